package isakmp

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// bodyCase is a byte-exact body encoding of one payload.
type bodyCase struct {
	name string
	p    Payload
	body []byte
}

func runBodyCases(t *testing.T, cases []bodyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := AppendBody(nil, tc.p); !bytes.Equal(got, tc.body) {
				t.Fatalf("body\n got %x\nwant %x", got, tc.body)
			}
			p, err := decodePayload(&rawPayload{Type: tc.p.Type(), Body: tc.body})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p, tc.p) {
				t.Fatalf("decoded %#v, want %#v", p, tc.p)
			}
		})
	}
}

// badBody is a body that must be rejected with err, its text containing text.
type badBody struct {
	name string
	t    PayloadType
	body []byte
	err  error
	text string
}

func runBadBodies(t *testing.T, cases []badBody) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ps := []Payload{&Unknown{PType: tc.t, Data: tc.body}}
			var err error
			if isEncrypted(tc.t) { // only allowed in an outer chain
				m := &Message{Header: Header{MajorVersion: 2}, Payloads: ps}
				_, err = ParseMessage(m.Marshal())
			} else {
				_, err = ParsePayloads(tc.t, AppendPayloads(nil, ps))
			}
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.err, tc.text)
			}
		})
	}
}
