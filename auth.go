package rtbroadcaster

import (
	"net/http"
	"strings"

	"github.com/rtbroadcaster/rtbroadcaster/auth"
)

// offersSubProtocol reports whether the handshake offers SubProtocol.
func offersSubProtocol(r *http.Request) bool {
	for _, line := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, protocol := range strings.Split(line, ",") {
			if strings.TrimSpace(protocol) == SubProtocol {
				return true
			}
		}
	}
	return false
}

// connectionToken is the token a client sent with its handshake: in the
// Sec-WebSocket-Protocol header or, as a last resort, in ?token= (which
// proxies and servers log with the URL).
func connectionToken(r *http.Request) string {
	for _, line := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, protocol := range strings.Split(line, ",") {
			if token, ok := strings.CutPrefix(strings.TrimSpace(protocol), TokenProtocolPrefix); ok {
				return token
			}
		}
	}
	return r.URL.Query().Get("token")
}

// authorize checks, when authentication is on, that the request's token (or
// else the handshake's) is valid and that allowed says its grant permits
// verb. A missing, invalid or expired token is unauthorized, which closes the
// connection; a valid one that does not permit verb is forbidden.
func (c *conn) authorize(verb, token string, allowed func(auth.Grant) bool) *Error {
	if c.mgr.verifier == nil {
		return nil
	}
	if token == "" {
		token = c.connToken
	}
	if token == "" {
		return newError(CodeUnauthorized, "%s: no token: send one in the request's token field, as the subprotocol %s<token>, or in ?token=", verb, TokenProtocolPrefix)
	}
	grant, err := c.mgr.verifier.Verify(token)
	if err != nil {
		return newError(CodeUnauthorized, "%s: %v", verb, err)
	}
	if !allowed(grant) {
		return newError(CodeForbidden, "%s: the token of %q does not allow it", verb, grant.Subject)
	}
	c.subject = grant.Subject
	return nil
}
