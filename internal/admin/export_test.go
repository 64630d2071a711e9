package admin

// RouteTable is what the server routes, "METHOD pattern" to action, for the
// OpenAPI conformance test.
func RouteTable() map[string]string {
	out := map[string]string{}
	for _, r := range (&Server{}).routes() {
		out[r.method+" "+r.pattern] = r.action
	}
	return out
}
