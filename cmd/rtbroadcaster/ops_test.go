package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lxzan/gws"
	"github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/auth"
)

func TestOpsFlags(t *testing.T) {
	t.Setenv("RTB_ADMIN_TOKEN", "from-env")
	cfg, err := parseServeFlags([]string{"-max-connections", "9", "-conn-rate", "2.5", "-max-rooms-per-ip", "3", "-trusted-proxies", "10.0.0.0/8, 192.0.2.1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.limits
	if l.MaxConnections != 9 || l.ConnectionsPerSecondPerIP != 2.5 || l.MaxRoomsPerIP != 3 || l.RateLimitStrikes != 50 || cfg.ops.adminToken != "from-env" {
		t.Fatalf("cfg %+v", cfg)
	}
	proxies, err := parseProxies(cfg.ops.trustedProxies)
	if err != nil || len(proxies) != 2 || proxies[1].String() != "192.0.2.1/32" {
		t.Fatalf("proxies %v, err %v", proxies, err)
	}
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwks, []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, ops := range map[string]opsConfig{
		"bad proxy":          {trustedProxies: "10.0.0.0/33"},
		"cert without key":   {tlsCert: "cert.pem"},
		"two kinds of key":   {jwtSecret: "s", jwtJWKS: jwks},
		"missing public key": {jwtPublicKey: filepath.Join(t.TempDir(), "none.pem")},
	} {
		if err := ops.configure(&rtbroadcaster.Config{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestTLSWithAuthAdminAndMetrics runs the serve command with a certificate
// made here, token authentication and an admin token, and uses it over
// HTTPS and wss://.
func TestTLSWithAuthAdminAndMetrics(t *testing.T) {
	certFile, keyFile, roots := makeCertificate(t)
	const secret = "a test secret of thirty-two bytes"
	ctx, cancel := context.WithCancel(context.Background())
	logs, logWriter := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, []string{"-addr", "127.0.0.1:0", "-tls-cert", certFile, "-tls-key", keyFile,
			"-jwt-secret", secret, "-admin-token", "let-me-in", "-http-idle-timeout", "500ms"}, logWriter)
		logWriter.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := waitForURLs(t, logs, `msg=listening url=(https://\S+/)`)[0]
	tlsConfig := &tls.Config{RootCAs: roots}
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}, Timeout: 10 * time.Second}
	defer httpClient.CloseIdleConnections()

	get := func(path, bearer string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", base+strings.TrimPrefix(path, "/"), nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if resp := get("/healthz", ""); resp.StatusCode != 200 {
		t.Fatalf("GET /healthz over TLS: %d", resp.StatusCode)
	}

	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, auth.Claims(auth.Grant{Create: true, Expires: time.Now().Add(time.Minute)})).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	replies := make(chan string, 4)
	wsURL := "wss" + strings.TrimPrefix(base, "https") + "broadcast"
	ws, _, err := gws.NewClient(&replyRecorder{replies: replies}, &gws.ClientOption{Addr: wsURL, TlsConfig: tlsConfig})
	if err != nil {
		t.Fatalf("dial %s: %v", wsURL, err)
	}
	go ws.ReadLoop()
	defer ws.NetConn().Close()
	_ = ws.WriteString(`{"status":{"value":1},"token":"` + tok + `"}`)
	var room string
	select {
	case reply := <-replies:
		var m struct{ UUID string }
		if err := json.Unmarshal([]byte(reply), &m); err != nil || m.UUID == "" || strings.Contains(reply, "error") {
			t.Fatalf("create over wss: %s", reply)
		}
		room = m.UUID
	case <-time.After(10 * time.Second):
		t.Fatal("no reply to create over wss")
	}

	if resp := get("/admin", ""); resp.StatusCode != 200 {
		t.Fatalf("GET /admin: %d", resp.StatusCode)
	}
	if resp := get("/admin/api/rooms", "wrong"); resp.StatusCode != 401 {
		t.Fatalf("admin API with a wrong token: %d", resp.StatusCode)
	}
	body, _ := io.ReadAll(get("/admin/api/rooms", "let-me-in").Body)
	if !strings.Contains(string(body), room) {
		t.Fatalf("admin API does not list room %s: %s", room, body)
	}
	// A wss:// connection reads on a goroutine of its own: no read deadline
	// of net/http's (-http-idle-timeout) may outlive its handshake.
	time.Sleep(time.Second)
	_ = ws.WriteString(`{"uuid":"` + room + `","status":{"value":3},"funcKey":"after-idle","funcParams":[]}`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		metrics, _ := io.ReadAll(get("/metrics", "").Body)
		if strings.Contains(string(metrics), "rtbroadcaster_messages_received_total 2\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the broadcast sent over wss after a second idle was not received: the connection was cut")
		}
	}
	metrics, _ := io.ReadAll(get("/metrics", "").Body)
	for _, want := range []string{"rtbroadcaster_rooms 1", "rtbroadcaster_connections 1", "rtbroadcaster_messages_received_total 2"} {
		if !strings.Contains(string(metrics), want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

type replyRecorder struct {
	gws.BuiltinEventHandler
	replies chan string
}

func (r *replyRecorder) OnMessage(_ *gws.Conn, m *gws.Message) {
	r.replies <- m.Data.String()
	m.Close()
}

// makeCertificate writes a self-signed certificate for 127.0.0.1 and its
// key, and returns their files and a pool that trusts the certificate.
func makeCertificate(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "rtbroadcaster test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	write := func(path, kind string, der []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(certFile, "CERTIFICATE", der)
	write(keyFile, "PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

// TestAPIKeyFlags: -api-key is repeatable and takes comma-separated keys,
// as its environment twin does; -api-key-file adds one key per line.
func TestAPIKeyFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte("# backends\nfile-key-1\n\n  file-key-2  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("# none yet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		env     string
		args    []string
		want    []string
		wantErr string
	}{
		{"off", "", nil, nil, ""},
		{"repeated", "", []string{"-api-key", "a", "-api-key", "b,c"}, []string{"a", "b", "c"}, ""},
		{"environment", "x, y", nil, []string{"x", "y"}, ""},
		{"file", "", []string{"-api-key", "a", "-api-key-file", file}, []string{"a", "file-key-1", "file-key-2"}, ""},
		{"file without a key", "", []string{"-api-key-file", empty}, nil, "holds no key"},
		{"missing file", "", []string{"-api-key-file", filepath.Join(t.TempDir(), "none")}, nil, "-api-key-file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("RTB_API_KEY", tt.env)
			}
			cfg, err := parseServeFlags(append(tt.args, "-api-rate", "5"), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			var mc rtbroadcaster.Config
			err = cfg.ops.configure(&mc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(mc.APIKeys, tt.want) || cfg.limits.APIRequestsPerSecond != 5 {
				t.Fatalf("keys %q (err %v), want %q; api rate %g", mc.APIKeys, err, tt.want, cfg.limits.APIRequestsPerSecond)
			}
		})
	}
}
