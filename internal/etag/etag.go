// Package etag computes the validators the server sends with the files it
// embeds (the pages in web and the JavaScript SDK), so that both answer
// If-None-Match alike.
package etag

import (
	"crypto/sha256"
	"encoding/hex"
)

// Of returns a strong ETag for body: the first 16 bytes of its SHA-256, in
// hex, quoted as the header wants.
func Of(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}
