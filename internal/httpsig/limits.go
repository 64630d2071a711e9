package httpsig

// Limits bound what is read from a message before and while parsing it.
// Zero fields take the defaults below.
type Limits struct {
	// MaxFieldBytes bounds Signature-Input and Signature, each, all field
	// lines combined. Default 8192 bytes: four RSA-4096 signatures fit.
	MaxFieldBytes int
	// MaxSignatures bounds the labels in one message. Default 4.
	MaxSignatures int
	// MaxComponents bounds the covered components of one signature.
	// Default 32.
	MaxComponents int
	// MaxParamBytes bounds each string parameter (keyid, nonce, tag, alg,
	// a component's key or name). Default 256 bytes.
	MaxParamBytes int
}

// Default limits.
const (
	DefaultMaxFieldBytes = 8192
	DefaultMaxSignatures = 4
	DefaultMaxComponents = 32
	DefaultMaxParamBytes = 256
)

// maxStructuredBytes bounds a covered field parsed for ;sf or ;key.
const maxStructuredBytes = 64 << 10

func (l Limits) withDefaults() Limits {
	if l.MaxFieldBytes <= 0 {
		l.MaxFieldBytes = DefaultMaxFieldBytes
	}
	if l.MaxSignatures <= 0 {
		l.MaxSignatures = DefaultMaxSignatures
	}
	if l.MaxComponents <= 0 {
		l.MaxComponents = DefaultMaxComponents
	}
	if l.MaxParamBytes <= 0 {
		l.MaxParamBytes = DefaultMaxParamBytes
	}
	return l
}
