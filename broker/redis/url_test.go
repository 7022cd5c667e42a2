package redis

import (
	"crypto/tls"
	"reflect"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

func TestParseSentinelURL(t *testing.T) {
	for _, tt := range []struct {
		url     string
		want    *goredis.FailoverOptions
		wantErr string // a part of the error; "" for none
	}{
		{url: "redis-sentinel://127.0.0.1:26379/mymaster",
			want: &goredis.FailoverOptions{MasterName: "mymaster", SentinelAddrs: []string{"127.0.0.1:26379"}, MaxRetries: -1}},
		{url: "redis-sentinel://a:26379,b:26380,[::1]:26381/m?db=5",
			want: &goredis.FailoverOptions{MasterName: "m", SentinelAddrs: []string{"a:26379", "b:26380", "[::1]:26381"}, DB: 5, MaxRetries: -1}},
		{url: "redis-sentinel://:s3cr%40t@a:26379/m",
			want: &goredis.FailoverOptions{MasterName: "m", SentinelAddrs: []string{"a:26379"}, Password: "s3cr@t", MaxRetries: -1}},
		{url: "redis-sentinel://user:pw@a:26379/m?db=0",
			want: &goredis.FailoverOptions{MasterName: "m", SentinelAddrs: []string{"a:26379"}, Username: "user", Password: "pw", MaxRetries: -1}},

		{url: "redis://a:6379/0", wantErr: "not a redis-sentinel://"},
		{url: "redis-sentinel://a:26379", wantErr: "no master name"},
		{url: "redis-sentinel://a:26379/", wantErr: "no master name"},
		{url: "redis-sentinel://a:26379/m/x", wantErr: "holds a /"},
		{url: "redis-sentinel:///m", wantErr: "no address"},
		{url: "redis-sentinel://:pw@/m", wantErr: "no address"},
		{url: "redis-sentinel://pw@a:26379/m", wantErr: "no password before @"},
		{url: "redis-sentinel://a/m", wantErr: `address "a"`},
		{url: "redis-sentinel://a:26379,/m", wantErr: `address ""`},
		{url: "redis-sentinel://a:0/m", wantErr: "port from 1 to 65535"},
		{url: "redis-sentinel://a:x/m", wantErr: "port from 1 to 65535"},
		{url: "redis-sentinel://:26379/m", wantErr: "port from 1 to 65535"},
		{url: "redis-sentinel://a:26379/m?db=x", wantErr: `db "x"`},
		{url: "redis-sentinel://a:26379/m?db=-1", wantErr: `db "-1"`},
		{url: "redis-sentinel://a:26379/m?db=1&db=2", wantErr: "more than once"},
		{url: "redis-sentinel://a:26379/m?dial_timeout=1s", wantErr: `unknown parameter "dial_timeout"`},
		{url: "redis-sentinel://a:26379/m?db=%zz", wantErr: "query"},
		{url: "redis-sentinel://:%zz@a:26379/m", wantErr: "password"},
	} {
		got, err := parseSentinelURL(tt.url)
		checkParsed(t, tt.url, got, err, tt.want, tt.wantErr)
	}
}

// TestNewClientKeepsRetriesOff: both kinds of URL give a client that does
// not retry a failed command, unless a redis:// URL says otherwise. (The
// client's options say 0 for no retry once set up; left alone they would
// say 3, go-redis's default.)
func TestNewClientKeepsRetriesOff(t *testing.T) {
	for url, want := range map[string]int{
		"redis://127.0.0.1:1/0":               0,
		"redis://127.0.0.1:1/0?max_retries=2": 2,
		"redis-sentinel://127.0.0.1:1/m":      0,
		"redis-cluster://127.0.0.1:1":         -1, // the cluster client keeps -1; its node clients get 0
	} {
		client, err := NewClient(url)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		var got int
		switch c := client.(type) {
		case *goredis.Client:
			got = c.Options().MaxRetries
		case *goredis.ClusterClient:
			got = c.Options().MaxRetries
		}
		if got != want {
			t.Errorf("%s: MaxRetries %d, want %d", url, got, want)
		}
		_ = client.Close()
	}
	if _, err := NewClient("redis-sentinel://a:1"); err == nil {
		t.Error("a Sentinel URL without a master name gave a client")
	}
}

func TestParseClusterURL(t *testing.T) {
	for _, tt := range []struct {
		url     string
		want    *goredis.ClusterOptions
		wantErr string // a part of the error; "" for none
	}{
		{url: "redis-cluster://127.0.0.1:7000",
			want: &goredis.ClusterOptions{Addrs: []string{"127.0.0.1:7000"}, MaxRetries: -1}},
		{url: "redis-cluster://a:7000,b:7001,[::1]:7002/",
			want: &goredis.ClusterOptions{Addrs: []string{"a:7000", "b:7001", "[::1]:7002"}, MaxRetries: -1}},
		{url: "redis-cluster://user:s3cr%40t@a:7000",
			want: &goredis.ClusterOptions{Addrs: []string{"a:7000"}, Username: "user", Password: "s3cr@t", MaxRetries: -1}},
		{url: "rediss-cluster://:pw@redis.example:6380",
			want: &goredis.ClusterOptions{Addrs: []string{"redis.example:6380"}, Password: "pw", MaxRetries: -1,
				TLSConfig: &tls.Config{ServerName: "redis.example", MinVersion: tls.VersionTLS12}}},

		{url: "redis://a:6379", wantErr: "not a redis-cluster://"},
		{url: "redis-cluster://", wantErr: "no address"},
		{url: "redis-cluster://a:7000/0", wantErr: "no database"},
		{url: "redis-cluster://a:7000?dial_timeout=1s", wantErr: "no parameters"},
		{url: "redis-cluster://pw@a:7000", wantErr: "no password before @"},
		{url: "redis-cluster://a:7000,", wantErr: `address ""`},
		{url: "redis-cluster://a:70000", wantErr: "port from 1 to 65535"},
	} {
		got, err := parseClusterURL(tt.url)
		checkParsed(t, tt.url, got, err, tt.want, tt.wantErr)
	}
}

// checkParsed checks what a URL parser returned for url: an error holding
// wantErr when that is set, else want.
func checkParsed[T any](t *testing.T, url string, got T, err error, want T, wantErr string) {
	t.Helper()
	switch {
	case wantErr != "":
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: error %v, want one with %q", url, err, wantErr)
		}
	case err != nil:
		t.Errorf("%s: %v", url, err)
	case !reflect.DeepEqual(got, want):
		t.Errorf("%s:\n got %+v\nwant %+v", url, got, want)
	}
}
