// Package jsonlimits owns the checks of request bodies that need no
// schema: the media types a route accepts, and the structure of JSON
// bodies (strict parsing with duplicate keys, invalid UTF-8 and unpaired
// surrogates refused; bounded depth, keys, array length, string and
// number length). Its Validate-phase stage is on for every route by
// default and reads only the bodies it checks.
package jsonlimits
