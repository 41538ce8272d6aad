package access

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"

	"ikegate/policy"
)

// Errors of Users.Check, wrapped with the user name (never the password).
var (
	ErrUnknownUser = errors.New("unknown user")
	ErrBadPassword = errors.New("wrong password")
)

// Users checks passwords against the local user list; safe for concurrent
// use (it is read-only after NewUsers).
type Users struct {
	byName map[string]*policy.User
}

// NewUsers indexes users by name (the first of a name wins; the loader
// refuses duplicates). The users are shared, not copied: do not modify
// them afterwards.
func NewUsers(users []*policy.User) *Users {
	u := &Users{byName: make(map[string]*policy.User, len(users))}
	for _, x := range users {
		if x == nil {
			continue
		}
		if _, dup := u.byName[x.Name]; !dup {
			u.byName[x.Name] = x
		}
	}
	return u
}

// Check returns nil if password is name's password, else an error wrapping
// ErrUnknownUser or ErrBadPassword. A user configured with a password is
// compared by password, one with only an NT hash by the NT hash of the
// given password. The comparison takes the same time wherever the
// passwords differ and whatever their lengths.
func (u *Users) Check(name, password string) error {
	x := u.byName[name]
	if x == nil {
		// The same work as for a known user, so that timing tells no
		// more than the error does.
		_ = policy.NTPasswordHash([]byte(password))
		return fmt.Errorf("%w %q", ErrUnknownUser, name)
	}
	var ok bool
	if x.Password != nil {
		given, want := sha256.Sum256([]byte(password)), sha256.Sum256(x.Password)
		ok = subtle.ConstantTimeCompare(given[:], want[:]) == 1
	} else {
		ok = len(x.NTHash) > 0 && subtle.ConstantTimeCompare(policy.NTPasswordHash([]byte(password)), x.NTHash) == 1
	}
	if !ok {
		return fmt.Errorf("%w for user %q", ErrBadPassword, name)
	}
	return nil
}

// NTHash returns a copy of name's NT hash (MD4 of the UTF-16LE password),
// what MSCHAPv2 needs; false for an unknown user or one without a hash.
func (u *Users) NTHash(name string) ([]byte, bool) {
	x := u.byName[name]
	if x == nil || len(x.NTHash) == 0 {
		return nil, false
	}
	return append([]byte(nil), x.NTHash...), true
}

// ntHashOf returns a copy of name's NT hash, the configured one or that of
// the configured password; false for an unknown user or one with neither.
func (u *Users) ntHashOf(name string) ([]byte, bool) {
	x := u.byName[name]
	switch {
	case x == nil:
		return nil, false
	case len(x.NTHash) > 0:
		return append([]byte(nil), x.NTHash...), true
	case x.Password != nil:
		return policy.NTPasswordHash(x.Password), true
	}
	return nil, false
}
