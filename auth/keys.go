package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"

	"github.com/golang-jwt/jwt/v5"
)

// parsePublicKeyPEM reads an RSA or P-256 public key, or a certificate
// holding one, and returns it with the algorithm it verifies.
func parsePublicKeyPEM(data []byte) (any, string, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, "", errors.New("auth: public key: no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	}
	if err != nil {
		return nil, "", fmt.Errorf("auth: public key: %w", err)
	}
	alg, err := algorithmOf(key)
	return key, alg, err
}

// algorithmOf is the one algorithm a key verifies: pinning it stops a token
// from choosing a weaker one.
func algorithmOf(key any) (string, error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return "RS256", nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("auth: public key: EC curve %s is not supported; use P-256 (ES256)", k.Curve.Params().Name)
		}
		return "ES256", nil
	}
	return "", fmt.Errorf("auth: public key: %T is not supported; use an RSA (RS256) or P-256 (ES256) key", key)
}

// keySet is a JWKS's keys by kid.
type keySet map[string]keyWithAlg

type keyWithAlg struct {
	key any
	alg string
}

// lookup finds the key a token names in its kid header.
func (s keySet) lookup(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	k, ok := s[kid]
	if !ok && kid == "" && len(s) == 1 {
		for _, only := range s {
			k, ok = only, true
		}
	}
	if !ok {
		return nil, fmt.Errorf("no key with kid %q in the JWKS", kid)
	}
	if t.Method.Alg() != k.alg {
		return nil, fmt.Errorf("key %q verifies %s, not %s", kid, k.alg, t.Method.Alg())
	}
	return k.key, nil
}

// jwk is the part of a JSON Web Key that RSA and EC public keys use.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func parseJWKS(data []byte) (keySet, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	set := keySet{}
	for i, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue // an encryption key verifies nothing
		}
		key, err := k.publicKey()
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS key %d (kid %q): %w", i, k.Kid, err)
		}
		set[k.Kid] = key
	}
	if len(set) == 0 {
		return nil, errors.New("auth: JWKS has no signing keys")
	}
	return set, nil
}

func (k jwk) publicKey() (keyWithAlg, error) {
	switch k.Kty {
	case "RSA":
		n, errN := decodeBigInt(k.N)
		e, errE := decodeBigInt(k.E)
		if err := errors.Join(errN, errE); err != nil {
			return keyWithAlg{}, err
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31 {
			return keyWithAlg{}, errors.New("RSA exponent out of range")
		}
		return keyWithAlg{&rsa.PublicKey{N: n, E: int(e.Int64())}, "RS256"}, nil
	case "EC":
		if k.Crv != "P-256" {
			return keyWithAlg{}, fmt.Errorf("EC curve %q is not supported; use P-256", k.Crv)
		}
		key, err := p256Key(k.X, k.Y)
		if err != nil {
			return keyWithAlg{}, err
		}
		return keyWithAlg{key, "ES256"}, nil
	}
	return keyWithAlg{}, fmt.Errorf("key type %q is not supported; use RSA or EC", k.Kty)
}

// p256Key decodes a JWK's coordinates into a P-256 public key, refusing a
// point off the curve, which would make every signature check meaningless.
func p256Key(xB64, yB64 string) (*ecdsa.PublicKey, error) {
	x, errX := decodeBigInt(xB64)
	y, errY := decodeBigInt(yB64)
	if err := errors.Join(errX, errY); err != nil {
		return nil, err
	}
	if x.BitLen() > 256 || y.BitLen() > 256 {
		return nil, errors.New("EC point is not on P-256")
	}
	point := make([]byte, 65)
	point[0] = 4 // uncompressed
	x.FillBytes(point[1:33])
	y.FillBytes(point[33:])
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, errors.New("EC point is not on P-256")
	}
	return key, nil
}

func decodeBigInt(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("bad base64url number %q", s)
	}
	return new(big.Int).SetBytes(b), nil
}
