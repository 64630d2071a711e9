package waf

// SetTestDirectives adds directives to every instance compiled from now
// on (the CRS suite's log marker and test settings); it returns a function
// undoing it. Only tests can add a directive.
func SetTestDirectives(d string) func() {
	prev := testDirectives
	testDirectives = d
	return func() { testDirectives = prev }
}
