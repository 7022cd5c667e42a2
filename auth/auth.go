// Package auth verifies the JSON Web Tokens that rtbroadcaster clients
// present, and says what each one allows: creating rooms, joining which rooms.
//
// A token is signed with HS256 (a shared secret), or with RS256 or ES256 (a
// private key whose public half the server holds as a PEM file or in a JWKS
// file). Its claims, besides the registered ones:
//
//	{
//	  "sub": "alice",                 // logged with the connection; optional
//	  "exp": 1767225600,              // required: tokens without one are refused
//	  "rtb_create": true,             // may create rooms
//	  "rtb_rooms": "*",               // may join any room
//	  "rtb_api": true                 // may use the server's HTTP API (/api/)
//	}
//
// rtb_rooms is "*" (any room), one room id as a string, or an array of room
// ids. A token without rtb_rooms joins no room; one without rtb_create (or
// with false) creates none.
package auth

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AnyRoom, as the rtb_rooms claim, lets a token join every room.
const AnyRoom = "*"

// Grant is what a verified token allows.
type Grant struct {
	// Subject is the token's sub claim, for logs.
	Subject string
	// Create allows creating rooms.
	Create bool
	// Rooms are the room ids the token may join; AnyRoom among them allows all.
	Rooms []string
	// API allows the server's HTTP API (/api/, when it is on): creating,
	// feeding, describing and closing any room, as an API key does.
	API bool
	// Expires is when the token stops being accepted.
	Expires time.Time
}

// MayJoin reports whether the grant allows joining room.
func (g Grant) MayJoin(room string) bool {
	return slices.Contains(g.Rooms, AnyRoom) || slices.Contains(g.Rooms, room)
}

// Config says how tokens are signed and what else a token must carry.
// Exactly one of HMACSecret, PublicKeyPEM and JWKS is set.
type Config struct {
	// HMACSecret verifies HS256 tokens. Use at least 32 random bytes.
	HMACSecret []byte
	// PublicKeyPEM verifies RS256 (an RSA key) or ES256 (a P-256 key)
	// tokens: a PEM "PUBLIC KEY" block or a certificate.
	PublicKeyPEM []byte
	// JWKS is a JSON Web Key Set document (RFC 7517) of RSA and P-256 keys;
	// a token's kid header picks the key (it may be left out when the set has
	// one key).
	JWKS []byte
	// Issuer and Audience, when set, must match the iss and aud claims.
	Issuer   string
	Audience string
	// Leeway tolerates clock skew between the token's issuer and this server.
	Leeway time.Duration
	// Now is the clock a token's times are checked against; nil is time.Now.
	// Tests set it to let a token expire without waiting.
	Now func() time.Time
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	keyfunc jwt.Keyfunc
	parser  *jwt.Parser
}

// New returns a Verifier for cfg.
func New(cfg Config) (*Verifier, error) {
	keyfunc, methods, err := keysOf(cfg)
	if err != nil {
		return nil, err
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithExpirationRequired(), jwt.WithLeeway(cfg.Leeway)}
	if cfg.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Now))
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &Verifier{keyfunc: keyfunc, parser: jwt.NewParser(opts...)}, nil
}

// keysOf returns the key lookup and the algorithms cfg's keys verify.
func keysOf(cfg Config) (jwt.Keyfunc, []string, error) {
	set := 0
	for _, k := range [][]byte{cfg.HMACSecret, cfg.PublicKeyPEM, cfg.JWKS} {
		if len(k) > 0 {
			set++
		}
	}
	if set != 1 {
		return nil, nil, errors.New("auth: set exactly one of an HMAC secret, a public key PEM and a JWKS")
	}
	switch {
	case len(cfg.HMACSecret) > 0:
		secret := cfg.HMACSecret
		return func(*jwt.Token) (any, error) { return secret, nil }, []string{"HS256"}, nil
	case len(cfg.PublicKeyPEM) > 0:
		key, alg, err := parsePublicKeyPEM(cfg.PublicKeyPEM)
		if err != nil {
			return nil, nil, err
		}
		return func(*jwt.Token) (any, error) { return key, nil }, []string{alg}, nil
	default:
		keys, err := parseJWKS(cfg.JWKS)
		if err != nil {
			return nil, nil, err
		}
		return keys.lookup, []string{"RS256", "ES256"}, nil
	}
}

// Verify checks token's signature and claims and returns what it allows.
func (v *Verifier) Verify(token string) (Grant, error) {
	var c claims
	if _, err := v.parser.ParseWithClaims(token, &c, v.keyfunc); err != nil {
		return Grant{}, fmt.Errorf("token refused: %w", err)
	}
	return Grant{Subject: c.Subject, Create: c.Create, Rooms: c.Rooms, API: c.API, Expires: c.ExpiresAt.Time}, nil
}

// claims are a token's claims: the registered ones and rtbroadcaster's.
type claims struct {
	jwt.RegisteredClaims
	Create bool      `json:"rtb_create,omitempty"`
	Rooms  roomClaim `json:"rtb_rooms,omitempty"`
	API    bool      `json:"rtb_api,omitempty"`
}

// UnmarshalJSON reads the claims, and refuses exp, nbf or iat given as a
// string: RFC 7519 makes them NumericDates, JSON numbers, but the JWT
// library also takes "1767225600".
func (c *claims) UnmarshalJSON(data []byte) error {
	var dates struct {
		Exp json.RawMessage `json:"exp"`
		Nbf json.RawMessage `json:"nbf"`
		Iat json.RawMessage `json:"iat"`
	}
	if err := json.Unmarshal(data, &dates); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		raw  json.RawMessage
	}{{"exp", dates.Exp}, {"nbf", dates.Nbf}, {"iat", dates.Iat}} {
		if raw := bytes.TrimSpace(d.raw); len(raw) > 0 && raw[0] == '"' {
			return fmt.Errorf("%s is the string %s; it must be a number of seconds since 1970 (RFC 7519 NumericDate)", d.name, raw)
		}
	}
	type plain claims // the same fields, without this method
	return json.Unmarshal(data, (*plain)(c))
}

// roomClaim is rtb_rooms: one string or an array of strings.
type roomClaim []string

func (r *roomClaim) UnmarshalJSON(data []byte) error {
	var one string
	if err := json.Unmarshal(data, &one); err == nil {
		*r = roomClaim{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil {
		return errors.New(`rtb_rooms must be "*", a room id, or an array of room ids`)
	}
	*r = many
	return nil
}

// Claims builds the claims of a token that grants g, for issuers written in
// Go and for tests: sign it with jwt.NewWithClaims. It expires at g.Expires.
func Claims(g Grant) jwt.Claims {
	c := claims{Create: g.Create, Rooms: g.Rooms, API: g.API}
	c.Subject = g.Subject
	c.ExpiresAt = jwt.NewNumericDate(g.Expires)
	c.IssuedAt = jwt.NewNumericDate(time.Now())
	return c
}

// EqualSecret compares two secrets in constant time, for admin tokens.
func EqualSecret(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
