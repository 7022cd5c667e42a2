package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rtbroadcaster/rtbroadcaster/auth"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.Claims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hourGrant(g auth.Grant) jwt.Claims {
	g.Expires = time.Now().Add(time.Hour)
	return auth.Claims(g)
}

func TestHMACGrants(t *testing.T) {
	v, err := auth.New(auth.Config{HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		claims     jwt.Claims
		create     bool
		joinA      bool
		joinB      bool
		wantErrSub string
	}{
		{"creator", hourGrant(auth.Grant{Subject: "alice", Create: true}), true, false, false, ""},
		{"one room", hourGrant(auth.Grant{Rooms: []string{"A"}}), false, true, false, ""},
		{"any room", hourGrant(auth.Grant{Rooms: []string{auth.AnyRoom}}), false, true, true, ""},
		{"room as a string", jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "rtb_rooms": "B"}, false, false, true, ""},
		{"room list", jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "rtb_rooms": []string{"A", "B"}}, false, true, true, ""},
		{"expired", auth.Claims(auth.Grant{Create: true, Expires: time.Now().Add(-time.Minute)}), false, false, false, "expired"},
		{"no exp", jwt.MapClaims{"rtb_create": true}, false, false, false, "exp"},
		{"rooms of the wrong type", jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "rtb_rooms": 7}, false, false, false, "rtb_rooms"},
		// RFC 7519: exp, nbf and iat are NumericDates, JSON numbers.
		{"exp as a string", jwt.MapClaims{"exp": strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10), "rtb_create": true}, false, false, false, "exp"},
		{"nbf as a string", jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "nbf": strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10), "rtb_create": true}, false, false, false, "nbf"},
		{"iat as a string", jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "iat": strconv.FormatInt(time.Now().Unix(), 10), "rtb_create": true}, false, false, false, "iat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, tt.claims, ""))
			if tt.wantErrSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrSub) {
					t.Fatalf("err %v, want one mentioning %q", err, tt.wantErrSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.Create != tt.create || g.MayJoin("A") != tt.joinA || g.MayJoin("B") != tt.joinB {
				t.Fatalf("grant %+v: create %v, A %v, B %v", g, g.Create, g.MayJoin("A"), g.MayJoin("B"))
			}
		})
	}
}

func TestClock(t *testing.T) {
	now := time.Now()
	v, err := auth.New(auth.Config{HMACSecret: secret, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodHS256, secret, hourGrant(auth.Grant{Create: true}), "")
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("within its hour: %v", err)
	}
	now = now.Add(2 * time.Hour)
	if _, err := v.Verify(tok); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("two hours later by the Verifier's clock: err %v, want expired", err)
	}
}

func TestRefusedSignatures(t *testing.T) {
	v, err := auth.New(auth.Config{HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	claims := hourGrant(auth.Grant{Create: true})
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, token := range map[string]string{
		"other secret":  sign(t, jwt.SigningMethodHS256, []byte("another secret, just as long...."), claims, ""),
		"HS512":         sign(t, jwt.SigningMethodHS512, secret, claims, ""),
		"RS256":         sign(t, jwt.SigningMethodRS256, rsaKey, claims, ""),
		"alg none":      sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims, ""),
		"not a token":   "hello",
		"empty":         "",
		"tampered body": tamper(sign(t, jwt.SigningMethodHS256, secret, claims, "")),
	} {
		if _, err := v.Verify(token); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// tamper grants rooms in a signed token's payload without signing again.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	_ = json.Unmarshal(payload, &m)
	m["rtb_rooms"] = "*"
	payload, _ = json.Marshal(m)
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func TestPublicKeyPEM(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, tc := range map[string]struct {
		method jwt.SigningMethod
		priv   any
		pub    any
	}{
		"RS256": {jwt.SigningMethodRS256, rsaKey, &rsaKey.PublicKey},
		"ES256": {jwt.SigningMethodES256, ecKey, &ecKey.PublicKey},
	} {
		t.Run(name, func(t *testing.T) {
			der, err := x509.MarshalPKIXPublicKey(tc.pub)
			if err != nil {
				t.Fatal(err)
			}
			v, err := auth.New(auth.Config{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})})
			if err != nil {
				t.Fatal(err)
			}
			if g, err := v.Verify(sign(t, tc.method, tc.priv, hourGrant(auth.Grant{Create: true}), "")); err != nil || !g.Create {
				t.Fatalf("grant %+v, err %v", g, err)
			}
			// The public key used as an HMAC secret: the classic confusion attack.
			if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, der, hourGrant(auth.Grant{Create: true}), "")); err == nil {
				t.Fatal("an HS256 token signed with the public key was accepted")
			}
		})
	}
}

func TestJWKS(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "r1", "use": "sig", "n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kty": "EC", "kid": "e1", "crv": "P-256", "x": b64(ecKey.X.FillBytes(make([]byte, 32))), "y": b64(ecKey.Y.FillBytes(make([]byte, 32)))},
	}})
	v, err := auth.New(auth.Config{JWKS: doc})
	if err != nil {
		t.Fatal(err)
	}
	claims := hourGrant(auth.Grant{Rooms: []string{"A"}})
	if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, rsaKey, claims, "r1")); err != nil {
		t.Errorf("RS256 by kid r1: %v", err)
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodES256, ecKey, claims, "e1")); err != nil {
		t.Errorf("ES256 by kid e1: %v", err)
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodES256, ecKey, claims, "r1")); err == nil {
		t.Error("an ES256 token naming the RSA key was accepted")
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, rsaKey, claims, "")); err == nil {
		t.Error("a token without kid was accepted by a set of two keys")
	}
}

func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]auth.Config{
		"nothing":                {},
		"two kinds of key":       {HMACSecret: secret, JWKS: []byte(`{"keys":[]}`)},
		"bad PEM":                {PublicKeyPEM: []byte("not a key")},
		"empty JWKS":             {JWKS: []byte(`{"keys":[]}`)},
		"EC point off the curve": {JWKS: []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"}]}`)},
	} {
		if _, err := auth.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestAPIClaim: rtb_api grants the HTTP API, and only it; auth.Claims
// writes it; a value that is not a boolean refuses the token.
func TestAPIClaim(t *testing.T) {
	v, err := auth.New(auth.Config{HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	for name, tc := range map[string]struct {
		claims  jwt.Claims
		api     bool
		wantErr bool
	}{
		"claim":             {jwt.MapClaims{"exp": exp, "rtb_api": true}, true, false},
		"written by Claims": {hourGrant(auth.Grant{Subject: "cron", API: true}), true, false},
		"false":             {jwt.MapClaims{"exp": exp, "rtb_api": false, "rtb_create": true}, false, false},
		"absent":            {hourGrant(auth.Grant{Create: true, Rooms: []string{auth.AnyRoom}}), false, false},
		"not a boolean":     {jwt.MapClaims{"exp": exp, "rtb_api": "yes"}, false, true},
	} {
		t.Run(name, func(t *testing.T) {
			g, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, tc.claims, ""))
			if (err != nil) != tc.wantErr || g.API != tc.api {
				t.Fatalf("grant %+v, err %v; want API %v, error %v", g, err, tc.api, tc.wantErr)
			}
			if g.API && (g.Create || len(g.Rooms) > 0) {
				t.Fatalf("rtb_api granted more: %+v", g)
			}
		})
	}
}
