package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// SentinelScheme is the scheme of a URL that names a Redis run by Sentinel:
// redis-sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER_NAME[?db=N].
const SentinelScheme = "redis-sentinel://"

// ClusterScheme and ClusterTLSScheme start the URL of a Redis Cluster:
// redis-cluster://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...], the addresses
// being seeds from which the client learns every node; rediss-cluster://
// is the same over TLS.
const (
	ClusterScheme    = "redis-cluster://"
	ClusterTLSScheme = "rediss-cluster://"
)

// IsURL reports whether url is one that NewClient takes.
func IsURL(url string) bool {
	for _, scheme := range []string{"redis://", "rediss://", SentinelScheme, ClusterScheme, ClusterTLSScheme} {
		if strings.HasPrefix(url, scheme) {
			return true
		}
	}
	return false
}

// NewClient returns a client of the Redis that url names: a redis:// or
// rediss:// URL (see goredis.ParseURL); a redis-sentinel:// URL, which
// lists Sentinel addresses and the name of the master they monitor (the
// client asks them for the master and follows it across failovers); or a
// redis-cluster:// or rediss-cluster:// URL, which lists seed nodes of a
// Redis Cluster (the client follows its slots across failovers and
// resharding). Unless a redis:// url sets max_retries, the client does not
// retry a failed command (see Open). The client is the caller's to close;
// it does not connect until its first command.
func NewClient(url string) (goredis.UniversalClient, error) {
	if strings.HasPrefix(url, ClusterScheme) || strings.HasPrefix(url, ClusterTLSScheme) {
		opts, err := parseClusterURL(url)
		if err != nil {
			return nil, err
		}
		return goredis.NewClusterClient(opts), nil
	}
	if strings.HasPrefix(url, SentinelScheme) {
		opts, err := parseSentinelURL(url)
		if err != nil {
			return nil, err
		}
		return goredis.NewFailoverClient(opts), nil
	}
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = -1
	}
	return goredis.NewClient(opts), nil
}

// parseClusterURL parses a redis-cluster:// or rediss-cluster:// URL (see
// ClusterScheme). It takes no path and no parameter: a cluster has one
// database, and the engine sets its own timeouts.
func parseClusterURL(raw string) (*goredis.ClusterOptions, error) {
	scheme := ClusterScheme
	if strings.HasPrefix(raw, ClusterTLSScheme) {
		scheme = ClusterTLSScheme
	}
	authority, ok := strings.CutPrefix(raw, scheme)
	if !ok {
		return nil, fmt.Errorf("not a %s URL", ClusterScheme)
	}
	if i := strings.IndexAny(authority, "/?"); i >= 0 {
		if rest := strings.TrimRight(authority[i:], "/"); rest != "" {
			return nil, fmt.Errorf("%q after the addresses: a cluster URL has no database and no parameters", rest)
		}
		authority = authority[:i]
	}
	// Node clients retry nothing; the cluster client itself follows MOVED
	// and ASK redirections, which are safe (Redis did not run the command),
	// and the engine marks the calls it must not repeat (see runOnce).
	opts := &goredis.ClusterOptions{MaxRetries: -1}
	user, password, addrs, err := splitAuthority(authority, "before the first address")
	if err != nil {
		return nil, err
	}
	opts.Username, opts.Password, opts.Addrs = user, password, addrs
	if scheme == ClusterTLSScheme {
		host, _, _ := net.SplitHostPort(addrs[0])
		opts.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	return opts, nil
}

// splitAuthority splits [[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...] into
// its user, password and addresses; where says where an address is missing.
func splitAuthority(authority, where string) (user, password string, addrs []string, err error) {
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		rawUser, rawPassword, ok := strings.Cut(authority[:at], ":")
		if !ok {
			return "", "", nil, errors.New("no password before @: write :PASSWORD@ or USER:PASSWORD@")
		}
		if user, err = url.PathUnescape(rawUser); err != nil {
			return "", "", nil, fmt.Errorf("user name: %w", err)
		}
		if password, err = url.PathUnescape(rawPassword); err != nil {
			return "", "", nil, fmt.Errorf("password: %w", err)
		}
		authority = authority[at+1:]
	}
	if authority == "" {
		return "", "", nil, errors.New("no address: write HOST:PORT[,HOST:PORT...] " + where)
	}
	for _, addr := range strings.Split(authority, ",") {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return "", "", nil, fmt.Errorf("address %q: want HOST:PORT", addr)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
			return "", "", nil, fmt.Errorf("address %q: want HOST:PORT with a port from 1 to 65535", addr)
		}
		addrs = append(addrs, addr)
	}
	return user, password, addrs, nil
}

// parseSentinelURL parses a redis-sentinel:// URL (see SentinelScheme).
// The password, if any, is the master's and the replicas'; the Sentinels
// are asked without one.
func parseSentinelURL(raw string) (*goredis.FailoverOptions, error) {
	rest, ok := strings.CutPrefix(raw, SentinelScheme)
	if !ok {
		return nil, fmt.Errorf("not a %s URL", SentinelScheme)
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, master, ok := strings.Cut(rest, "/")
	if !ok || master == "" {
		return nil, errors.New("no master name: write " + SentinelScheme + "HOST:PORT[,HOST:PORT...]/MASTER_NAME")
	}
	if strings.Contains(master, "/") {
		return nil, fmt.Errorf("master name %q holds a /", master)
	}
	opts := &goredis.FailoverOptions{MasterName: master, MaxRetries: -1}
	user, password, addrs, err := splitAuthority(authority, "before /"+master)
	if err != nil {
		return nil, err
	}
	opts.Username, opts.Password, opts.SentinelAddrs = user, password, addrs
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	for name, values := range query {
		if name != "db" {
			return nil, fmt.Errorf("unknown parameter %q (only db is known)", name)
		}
		if len(values) != 1 {
			return nil, errors.New("db given more than once")
		}
		if opts.DB, err = strconv.Atoi(values[0]); err != nil || opts.DB < 0 {
			return nil, fmt.Errorf("db %q: want a database number, 0 or more", values[0])
		}
	}
	return opts, nil
}

// describe names the server(s) url points at, for error messages, without
// the password.
func describe(raw string) string {
	if opts, err := parseClusterURL(raw); err == nil {
		return "the cluster at " + strings.Join(opts.Addrs, ",")
	}
	if opts, err := parseSentinelURL(raw); err == nil {
		return fmt.Sprintf("master %q of the Sentinels at %s", opts.MasterName, strings.Join(opts.SentinelAddrs, ","))
	}
	if opts, err := goredis.ParseURL(raw); err == nil {
		return opts.Addr
	}
	return "?"
}
