package jsonlimits

import (
	"net/http"
	"testing"
)

func TestRequestMediaType(t *testing.T) {
	tests := []struct {
		name           string
		values         []string
		want           MediaType
		present, valid bool
		json           bool
	}{
		{name: "absent", valid: true},
		{name: "json", values: []string{"application/json"}, want: MediaType{Type: "application/json"}, present: true, valid: true, json: true},
		{name: "case folded", values: []string{"Application/JSON"}, want: MediaType{Type: "application/json"}, present: true, valid: true, json: true},
		{name: "charset", values: []string{"application/json; charset=UTF-8"}, want: MediaType{Type: "application/json", Charset: "utf-8"}, present: true, valid: true, json: true},
		{name: "structured suffix", values: []string{"application/merge-patch+json"}, want: MediaType{Type: "application/merge-patch+json"}, present: true, valid: true, json: true},
		{name: "text/json", values: []string{"text/json"}, want: MediaType{Type: "text/json"}, present: true, valid: true, json: true},
		{name: "text", values: []string{"text/plain"}, want: MediaType{Type: "text/plain"}, present: true, valid: true},
		{name: "repeated", values: []string{"text/plain", "application/json"}, present: true},
		{name: "list in one field", values: []string{"text/plain, application/json"}, present: true},
		{name: "no subtype", values: []string{"application/"}, present: true},
		{name: "no slash", values: []string{"json"}, present: true},
		{name: "empty", values: []string{""}, present: true},
		{name: "bad parameter", values: []string{"application/json;;"}, present: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.values != nil {
				h["Content-Type"] = tc.values
			}
			mt, present, ok := RequestMediaType(h)
			if mt != tc.want || present != tc.present || ok != tc.valid || IsJSON(mt.Type) != tc.json {
				t.Fatalf("got %+v %v %v json=%v", mt, present, ok, IsJSON(mt.Type))
			}
		})
	}
}
