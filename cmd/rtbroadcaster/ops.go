package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/auth"
	"github.com/rtbroadcaster/rtbroadcaster/web"
)

// opsConfig is what the serve command reads for running on the open
// internet: authentication, abuse limits, the admin dashboard and TLS.
type opsConfig struct {
	jwtSecret      string
	jwtPublicKey   string
	jwtJWKS        string
	jwtIssuer      string
	jwtAudience    string
	adminToken     string
	trustedProxies string
	tlsCert        string
	tlsKey         string
	apiKeys        keyList
	apiKeyFile     string
}

// keyList is a repeatable flag of keys; one value may also list several,
// separated by commas (as the environment twin must).
type keyList []string

func (k *keyList) String() string { return strconv.Itoa(len(*k)) + " keys" }

func (k *keyList) Set(v string) error {
	for _, key := range strings.Split(v, ",") {
		if key = strings.TrimSpace(key); key != "" {
			*k = append(*k, key)
		}
	}
	return nil
}

// registerOpsFlags adds the operations flags; l is the serve command's limits.
func registerOpsFlags(fs *flag.FlagSet, o *opsConfig, l *rtbroadcaster.Limits) {
	fs.StringVar(&o.jwtSecret, "jwt-secret", "", "HS256 `secret` that turns token authentication on (prefer the environment: the command line is visible to every user of the machine)")
	fs.StringVar(&o.jwtPublicKey, "jwt-public-key", "", "PEM `file` of the RSA (RS256) or P-256 (ES256) public key that turns token authentication on")
	fs.StringVar(&o.jwtJWKS, "jwt-jwks", "", "JWKS `file` of the RSA and P-256 keys that turns token authentication on; a token's kid picks the key")
	fs.StringVar(&o.jwtIssuer, "jwt-issuer", "", "iss claim tokens must carry (unchecked when empty)")
	fs.StringVar(&o.jwtAudience, "jwt-audience", "", "aud claim tokens must carry (unchecked when empty)")
	fs.StringVar(&o.adminToken, "admin-token", "", "bearer `token` of the admin dashboard at /admin and its API (off when empty; prefer the environment)")
	fs.Var(&o.apiKeys, "api-key", "bearer `key` of the HTTP API at /api/ (repeatable, or comma-separated; off without one; prefer the environment or -api-key-file)")
	fs.StringVar(&o.apiKeyFile, "api-key-file", "", "`file` of HTTP API keys, one per line (blank lines and # comments skipped)")
	fs.Float64Var(&l.APIRequestsPerSecond, "api-rate", 0, "HTTP API requests per second one key (or token subject) may make; more get 429 (0 is unlimited)")
	fs.IntVar(&l.APIRequestBurst, "api-burst", 0, "burst for -api-rate (default: one second's worth)")
	fs.StringVar(&o.trustedProxies, "trusted-proxies", "", "comma-separated `CIDRs` or addresses of reverse proxies whose X-Forwarded-For names the client")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate chain `file`: serve HTTPS and wss:// (with -tls-key)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key `file` of -tls-cert")
	fs.IntVar(&l.MaxConnections, "max-connections", 0, "most open connections; more are refused, closed with 4503 (0 is unlimited)")
	fs.Float64Var(&l.ConnectionsPerSecondPerIP, "conn-rate", 0, "new connections per second one client address may open; more are refused, closed with 4429 (0 is unlimited)")
	fs.IntVar(&l.ConnectionBurstPerIP, "conn-burst", 0, "burst for -conn-rate (default: one second's worth)")
	fs.IntVar(&l.MaxRoomsPerIP, "max-rooms-per-ip", 0, "most open rooms owned from one client address on this node (0 is unlimited)")
	fs.IntVar(&l.RateLimitStrikes, "rate-strikes", 50, "messages refused as rate_limited within 10 s before the connection is closed with 1008")
}

// configure sets the Manager's settings that the operations flags give.
func (o *opsConfig) configure(cfg *rtbroadcaster.Config) error {
	verifier, err := o.verifier()
	if err != nil {
		return err
	}
	if verifier != nil { // a nil *auth.Verifier would be a non-nil TokenVerifier
		cfg.TokenVerifier = verifier
	}
	if cfg.TrustedProxies, err = parseProxies(o.trustedProxies); err != nil {
		return err
	}
	cfg.AdminToken = o.adminToken
	if cfg.APIKeys, err = o.keys(); err != nil {
		return err
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return errors.New("-tls-cert and -tls-key go together")
	}
	return nil
}

// keys are the HTTP API's keys: -api-key's and those of -api-key-file.
func (o *opsConfig) keys() ([]string, error) {
	keys := slices.Clone([]string(o.apiKeys))
	if o.apiKeyFile == "" {
		return keys, nil
	}
	data, err := os.ReadFile(o.apiKeyFile)
	if err != nil {
		return nil, fmt.Errorf("-api-key-file: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			keys = append(keys, line)
		}
	}
	if len(keys) == len(o.apiKeys) {
		return nil, fmt.Errorf("-api-key-file: %s holds no key", o.apiKeyFile)
	}
	return keys, nil
}

// verifier builds the token verifier the -jwt-* flags ask for, or nil when
// authentication stays off.
func (o *opsConfig) verifier() (*auth.Verifier, error) {
	cfg := auth.Config{HMACSecret: []byte(o.jwtSecret), Issuer: o.jwtIssuer, Audience: o.jwtAudience}
	var err error
	if o.jwtPublicKey != "" {
		if cfg.PublicKeyPEM, err = os.ReadFile(o.jwtPublicKey); err != nil {
			return nil, fmt.Errorf("-jwt-public-key: %w", err)
		}
	}
	if o.jwtJWKS != "" {
		if cfg.JWKS, err = os.ReadFile(o.jwtJWKS); err != nil {
			return nil, fmt.Errorf("-jwt-jwks: %w", err)
		}
	}
	if len(cfg.HMACSecret) == 0 && len(cfg.PublicKeyPEM) == 0 && len(cfg.JWKS) == 0 {
		return nil, nil
	}
	v, err := auth.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("-jwt-secret, -jwt-public-key, -jwt-jwks: %w", err)
	}
	return v, nil
}

// parseProxies reads a comma-separated list of CIDRs or bare addresses.
func parseProxies(list string) ([]netip.Prefix, error) {
	var proxies []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if addr, err := netip.ParseAddr(item); err == nil {
			proxies = append(proxies, netip.PrefixFrom(addr, addr.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("-trusted-proxies: %q is neither an address nor a CIDR", item)
		}
		proxies = append(proxies, p.Masked())
	}
	return proxies, nil
}

// mountOps adds the metrics, the admin dashboard and its API to mux.
func mountOps(mux *http.ServeMux, mgr *rtbroadcaster.Manager) {
	mux.Handle("/metrics", mgr.MetricsHandler())
	mux.Handle("/admin", web.AdminPage())
	mux.Handle("/admin/api/", mgr.AdminHandler())
	mux.Handle("/api/", mgr.APIHandler())
}

// scheme is the URL scheme the main listener serves.
func (o *opsConfig) scheme() string {
	if o.tlsCert != "" {
		return "https"
	}
	return "http"
}

// serveHTTP serves srv on ln, over TLS when a certificate is configured.
func (o *opsConfig) serveHTTP(srv *http.Server, ln net.Listener) error {
	if o.tlsCert != "" {
		return srv.ServeTLS(ln, o.tlsCert, o.tlsKey)
	}
	return srv.Serve(ln)
}
