// Package httpsig owns HTTP Message Signatures (RFC 9421) for the gateway:
// parsing the Signature-Input and Signature fields, building the signature
// base exactly as RFC 9421 Section 2.5 defines it, verifying a signature
// against a Policy (covered components, age, expiry, nonce replay, allowed
// algorithms, tag), and signing requests and responses.
//
// What it deliberately does not own:
//
//   - Where keys come from. Verification resolves a signature's keyid
//     through a KeyResolver the caller builds for each request, so a keyid
//     is only ever looked up among the keys of the consumer the request has
//     already been authenticated as.
//   - The message content. Content-Digest (RFC 9530) lives in package
//     digest; a policy that must protect the body requires the
//     "content-digest" component and the caller checks the digest against
//     the body it read.
//   - The public origin. The target URI is an explicit input (Target)
//     because behind a load balancer the Host a gateway sees is not the one
//     the client signed.
//
// Everything read from a message is bounded (Limits) and every failure is a
// *Error whose kind (ErrNoSignature, ErrMalformed, ErrExpired, ...) says
// what to tell the client and the logs; error texts never carry untrusted
// values beyond a short, sanitised label or component name.
package httpsig
