package redis

import (
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

// NewClient returns a client of the Redis that url names: a redis:// or
// rediss:// URL (see goredis.ParseURL), or a redis-sentinel:// URL, which
// lists Sentinel addresses and the name of the master they monitor; the
// client asks them for the master and follows it across failovers. Unless
// a redis:// url sets max_retries, the client does not retry a failed
// command (see Open). The client is the caller's to close; it does not
// connect until its first command.
func NewClient(url string) (*goredis.Client, error) {
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
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		user, password, ok := strings.Cut(authority[:at], ":")
		if !ok {
			return nil, errors.New("no password before @: write :PASSWORD@ or USER:PASSWORD@")
		}
		var err error
		if opts.Username, err = url.PathUnescape(user); err != nil {
			return nil, fmt.Errorf("user name: %w", err)
		}
		if opts.Password, err = url.PathUnescape(password); err != nil {
			return nil, fmt.Errorf("password: %w", err)
		}
		authority = authority[at+1:]
	}
	if authority == "" {
		return nil, errors.New("no Sentinel address: write HOST:PORT[,HOST:PORT...] before /" + master)
	}
	for _, addr := range strings.Split(authority, ",") {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("address %q: want HOST:PORT", addr)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
			return nil, fmt.Errorf("address %q: want HOST:PORT with a port from 1 to 65535", addr)
		}
		opts.SentinelAddrs = append(opts.SentinelAddrs, addr)
	}
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
	if opts, err := parseSentinelURL(raw); err == nil {
		return fmt.Sprintf("master %q of the Sentinels at %s", opts.MasterName, strings.Join(opts.SentinelAddrs, ","))
	}
	if opts, err := goredis.ParseURL(raw); err == nil {
		return opts.Addr
	}
	return "?"
}
