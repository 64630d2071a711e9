package jsonlimits

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var small = Limits{MaxDepth: 3, MaxObjectKeys: 2, MaxArrayLength: 3, MaxStringLength: 5, MaxNumberLength: 4}

// Every kind of violation, where it is reported and in which words; and
// what passes. Each refused document is one encoding/json accepts (except
// the malformed ones), so each row is a parser differential closed.
func TestScan(t *testing.T) {
	tests := []struct {
		name, body           string
		kind, pointer, words string // kind "": accepted
	}{
		{name: "object", body: `{"a":1,"b":[true,null,"x"]}`},
		{name: "top-level scalar", body: `"abc"`},
		{name: "whitespace around", body: " \t\r\n{\"a\":1} \n"},
		{name: "limits reached exactly", body: `{"a":[[1,2,3]],"b":"12345"}`},
		{name: "escapes count as sent", body: `"\u00e9"`, kind: KindStringLength, pointer: "", words: "string longer than 5 bytes"},
		{name: "surrogate pair", body: `"\ud83d\ude00"`, kind: KindStringLength, pointer: "", words: "string longer than 5 bytes"},

		{name: "depth", body: `{"a":{"b":{"c":{}}}}`, kind: KindDepth, pointer: "/a/b/c", words: "nested deeper than 3 levels"},
		{name: "depth in arrays", body: `[[[[1]]]]`, kind: KindDepth, pointer: "/0/0/0", words: "nested deeper than 3 levels"},
		{name: "depth mixed", body: `[{},{},{"a":[[1]]}]`, kind: KindDepth, pointer: "/2/a/0", words: "nested deeper than 3 levels"},
		{name: "object keys", body: `{"x":{"a":1,"b":2,"c":3}}`, kind: KindObjectKeys, pointer: "/x", words: "object has more than 2 keys"},
		{name: "top-level keys", body: `{"a":1,"b":2,"c":3}`, kind: KindObjectKeys, pointer: "", words: "object has more than 2 keys"},
		{name: "array length", body: `{"a":[1,2,3,4]}`, kind: KindArrayLength, pointer: "/a", words: "array has more than 3 elements"},
		{name: "string length", body: `{"a":"123456"}`, kind: KindStringLength, pointer: "/a", words: "string longer than 5 bytes"},
		{name: "key length", body: `{"abcdef":1}`, kind: KindStringLength, pointer: "/abcdef", words: "string longer than 5 bytes"},
		{name: "number length", body: `[12345]`, kind: KindNumberLength, pointer: "/0", words: "number longer than 4 characters"},
		{name: "exponent counts", body: `[1e999]`, kind: KindNumberLength, pointer: "/0", words: "number longer than 4 characters"},
		{name: "beyond float64", body: `{"a":1E700}`, kind: KindNumberRange, pointer: "/a", words: "number out of range"},
		{name: "below float64", body: `[-1e400]`, kind: KindNumberRange, pointer: "/0", words: "number out of range"},
		{name: "tiny is zero", body: `[1e-400]`},

		{name: "duplicate key", body: `{"a":1,"a":2}`, kind: KindDuplicateKey, pointer: "/a", words: "duplicate object key"},
		{name: "duplicate key deep", body: `[{"x":{"b":1,"b":1}}]`, kind: KindDuplicateKey, pointer: "/0/x/b", words: "duplicate object key"},
		{name: "duplicate key escaped", body: `{"a":1,"\u0061":2}`, kind: KindDuplicateKey, pointer: "/a", words: "duplicate object key"},
		{name: "lone high surrogate", body: `{"a":"\ud800"}`, kind: KindSurrogate, pointer: "/a", words: "unpaired UTF-16 surrogate escape"},
		{name: "lone low surrogate", body: `["\udc00"]`, kind: KindSurrogate, pointer: "/0", words: "unpaired UTF-16 surrogate escape"},
		{name: "surrogate in key", body: `{"\ud800":1}`, kind: KindSurrogate, pointer: "", words: "unpaired UTF-16 surrogate escape"},
		{name: "invalid UTF-8", body: "{\"a\":\"\xff\"}", kind: KindInvalidUTF8, pointer: "/a", words: "invalid UTF-8"},
		{name: "overlong UTF-8", body: "[\"\xc0\xaf\"]", kind: KindInvalidUTF8, pointer: "/0", words: "invalid UTF-8"},
		{name: "invalid escape", body: `["\x"]`, kind: KindInvalidEsc, pointer: "/0", words: "invalid escape sequence"},
		{name: "trailing value", body: `{}{}`, kind: KindTrailingData, pointer: "", words: "data after the JSON value"},
		{name: "trailing garbage", body: `{} x`, kind: KindTrailingData, pointer: "", words: "data after the JSON value"},
		{name: "trailing comma", body: `[1,]`, kind: KindSyntax, pointer: "", words: "malformed JSON"},
		{name: "single quotes", body: `{'a':1}`, kind: KindSyntax, pointer: "", words: "malformed JSON"},
		{name: "NaN", body: `[NaN]`, kind: KindSyntax, pointer: "/0", words: "malformed JSON"},
		{name: "byte order mark", body: "\xef\xbb\xbf{}", kind: KindSyntax, pointer: "", words: "malformed JSON"},
		{name: "truncated", body: `{"a":`, kind: KindTruncated, pointer: "/a", words: "unexpected end of JSON"},
		{name: "empty", body: ``, kind: KindTruncated, pointer: "", words: "unexpected end of JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := small
			if tc.name == "beyond float64" || tc.name == "below float64" || tc.name == "tiny is zero" {
				l = NoLimits
			}
			v := Scan([]byte(tc.body), l)
			switch {
			case tc.kind == "" && v != nil:
				t.Fatalf("refused: %+v", v)
			case tc.kind == "":
				return
			case v == nil:
				t.Fatal("accepted")
			case v.Kind != tc.kind || v.Pointer != tc.pointer || v.Reason != tc.words:
				t.Fatalf("got %q %q %q, want %q %q %q", v.Kind, v.Pointer, v.Reason, tc.kind, tc.pointer, tc.words)
			}
		})
	}
}

// A pointer in a reply stays short however long the keys are.
func TestScanPointerFits(t *testing.T) {
	long := strings.Repeat("k", 300)
	body := `{"a":{"` + long + `":{"b":1,"b":2}}}`
	v := Scan([]byte(body), NoLimits)
	if v == nil || v.Kind != KindDuplicateKey || v.Pointer != "/a" {
		t.Fatalf("got %+v", v)
	}
}

// Depth is refused before the parser descends: a body of a million
// brackets costs one pass over the first few.
func TestScanDeepBodyStopsEarly(t *testing.T) {
	body := strings.Repeat("[", 1<<20)
	v := Scan([]byte(body), Limits{MaxDepth: 32, MaxObjectKeys: 10, MaxArrayLength: 10, MaxStringLength: 10, MaxNumberLength: 10})
	if v == nil || v.Kind != KindDepth || v.Pointer != strings.Repeat("/0", 32) {
		t.Fatalf("got %+v", v)
	}
}

func FuzzScan(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":"c"}]}`, `{"a":1,"a":2}`, `"\ud800"`, "\"\xff\"", `[[[[[]]]]]`, `{"a":"\u00e9\ud83d\ude00"}`, `1e5`, `{} {}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		v := Scan(body, NoLimits)
		decoded, derr := Decode(body)
		if v == nil {
			// What the strict scan accepts, the lenient parsers accept too,
			// it is valid UTF-8, and Decode reads the same value as
			// encoding/json.
			if !json.Valid(body) || !utf8.Valid(body) {
				t.Fatalf("accepted %q", body)
			}
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			var x any
			if err := dec.Decode(&x); err != nil {
				t.Fatalf("accepted %q: %v", body, err)
			}
			if derr != nil || !reflect.DeepEqual(decoded, x) {
				t.Fatalf("Decode(%q) = %#v, %v; encoding/json %#v", body, decoded, derr, x)
			}
			return
		}
		if derr == nil {
			t.Fatalf("Decode accepted %q, Scan refused: %+v", body, v)
		}
		if len(v.Pointer) > maxPointer || v.Reason == "" || v.Kind == "" {
			t.Fatalf("violation %+v", v)
		}
		if v.Limit() {
			t.Fatalf("limit %+v without limits", v)
		}
		if l := Scan(body, small); l == nil {
			t.Fatalf("%q: refused without limits, accepted with", body)
		}
	})
}
