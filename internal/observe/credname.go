package observe

// CredentialName reports whether a parameter, JSON member or cookie called
// name holds a credential by its name (it ends in token, secret,
// password, passwd, api_key, api-key, apikey, authorization or cookie):
// the rule Redact applies to name=value, for logs that see names and
// values apart (the WAF log's matched variables).
func CredentialName(name string) bool { return credentialName(name) }
