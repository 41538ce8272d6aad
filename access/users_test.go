package access

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"ikegate/policy"
)

// rfc2759NTHash is NtPasswordHash("clientPass"), RFC 2759 section 9.2.
const rfc2759NTHash = "44EBBA8D5312B8D611474411F56989AE"

func testUsers(t *testing.T) *Users {
	t.Helper()
	cfg, err := policy.Parse("users.toml", []byte(`[gateway]
listen = ["192.0.2.1"]

[[user]]
name = "alice"
password = "alice-secret"

[[user]]
name = "bob"
nt_hash = "`+rfc2759NTHash+`"

[[user]]
name = "ünïcode"
password = "pässwörd €"
`))
	if err != nil {
		t.Fatal(err)
	}
	return NewUsers(cfg.Users)
}

func TestUsersCheck(t *testing.T) {
	u := testUsers(t)
	for _, c := range []struct {
		name, user, password string
		want                 error
		msg                  string
	}{
		{"password", "alice", "alice-secret", nil, ""},
		{"wrong password", "alice", "alice-secreT", ErrBadPassword, `wrong password for user "alice"`},
		{"prefix of the password", "alice", "alice-sec", ErrBadPassword, `wrong password for user "alice"`},
		{"empty password", "alice", "", ErrBadPassword, `wrong password for user "alice"`},
		{"nt hash", "bob", "clientPass", nil, ""},
		{"wrong password, nt hash", "bob", "clientpass", ErrBadPassword, `wrong password for user "bob"`},
		{"non-ASCII password", "ünïcode", "pässwörd €", nil, ""},
		{"unknown user", "carol", "alice-secret", ErrUnknownUser, `unknown user "carol"`},
		{"user names are case-sensitive", "Alice", "alice-secret", ErrUnknownUser, `unknown user "Alice"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := u.Check(c.user, c.password)
			if c.want == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) || err.Error() != c.msg {
				t.Fatalf("Check: %v, want %q wrapping %v", err, c.msg, c.want)
			}
			if c.password != "" && strings.Contains(err.Error(), c.password) {
				t.Errorf("error reveals the password: %v", err)
			}
		})
	}
}

func TestUsersNTHash(t *testing.T) {
	u := testUsers(t)
	want, _ := hex.DecodeString(rfc2759NTHash)
	for _, c := range []struct {
		user string
		want []byte
		ok   bool
	}{
		{"bob", want, true},
		{"alice", policy.NTPasswordHash([]byte("alice-secret")), true},
		{"carol", nil, false},
	} {
		got, ok := u.NTHash(c.user)
		if ok != c.ok || !bytes.Equal(got, c.want) {
			t.Errorf("NTHash(%q) = %x, %v; want %x, %v", c.user, got, ok, c.want, c.ok)
		}
	}
	// A copy: changing it changes nothing.
	h, _ := u.NTHash("bob")
	h[0] ^= 0xff
	if err := u.Check("bob", "clientPass"); err != nil {
		t.Errorf("after modifying the returned hash: %v", err)
	}
	if policy.NTPasswordHash([]byte("clientPass"))[0] != want[0] {
		t.Errorf("NTPasswordHash differs from RFC 2759")
	}
}

// Hand-built users (not from the loader): nil entries are skipped, the
// first of a name wins, a user with neither password nor hash never
// matches.
func TestNewUsersDirect(t *testing.T) {
	u := NewUsers([]*policy.User{
		nil,
		{Name: "a", Password: []byte("one")},
		{Name: "a", Password: []byte("two")},
		{Name: "empty"},
	})
	if err := u.Check("a", "one"); err != nil {
		t.Errorf("first a: %v", err)
	}
	if err := u.Check("a", "two"); !errors.Is(err, ErrBadPassword) {
		t.Errorf("second a: %v", err)
	}
	if err := u.Check("empty", ""); !errors.Is(err, ErrBadPassword) {
		t.Errorf("user without credentials: %v", err)
	}
	if _, ok := u.NTHash("empty"); ok {
		t.Errorf("NTHash of a user without one")
	}
}
