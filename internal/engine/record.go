package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"go.uber.org/zap/zapcore"

	"ikegate/dpd"
	"ikegate/natt"
	"ikegate/oakley"
	"ikegate/policy"
)

// RecordFormat is the layout version of Record. A reader refuses records
// of another format rather than guess.
const RecordFormat = 1

// Record is an established IKE SA of either version with its CHILD SAs,
// complete enough to be restored into another engine (another shard,
// another process, another node of a cluster) so that the peer notices
// nothing: keys, SPIs or cookies, message-ID state and the cached last
// response, the IKEv1 IV chain, NAT state, addresses and ports, DPD state,
// lifetimes and rekey deadlines, identities and the connection name. It is
// the one serialization of SA state: each engine builds it from its SA
// (Export) and its SA from it (Restore).
//
// It encodes as self-describing JSON. Key material sits only in fields of
// type Secret, under "secrets" objects, so that a reader can see what must
// be protected; Record's String and its zap encoding leave them out, and
// Secret never prints its bytes. Only encoding/json writes them.
type Record struct {
	Format    int            `json:"format"`      // RecordFormat
	Version   int            `json:"ike_version"` // 1 or 2
	Conn      string         `json:"conn"`        // the connection's name
	Initiator bool           `json:"initiator"`   // we were the IKE SA's original initiator
	SPIi      SPI            `json:"spi_i"`       // IKEv1: initiator cookie
	SPIr      SPI            `json:"spi_r"`       // IKEv1: responder cookie
	Local     netip.AddrPort `json:"local"`
	Remote    netip.AddrPort `json:"remote"`
	NAT       natt.Detection `json:"nat"`
	PeerID    Identity       `json:"peer_id"`
	Proposal  Proposal       `json:"proposal"` // the IKE SA's algorithms
	// RemoteAccess marks an SA with remote-access state that records do
	// not hold yet (IKEv1 XAUTH and Mode Config, ikegate as a client):
	// such a record cannot be restored.
	RemoteAccess bool `json:"remote_access,omitempty"`
	// Client is the remote-access client of an IKEv2 SA (its EAP user
	// and virtual address; nil: none). The runtime holds the address in
	// its pool before it restores the record.
	Client *ClientRecord `json:"client,omitempty"`

	RekeyAt       time.Time `json:"rekey_at,omitzero"`       // when we replace the IKE SA
	Established   time.Time `json:"established,omitzero"`    // when it was established
	NextKeepalive time.Time `json:"next_keepalive,omitzero"` // NAT keepalive (zero: none)
	BytesCheckAt  time.Time `json:"bytes_check_at,omitzero"`
	DPD           dpd.State `json:"dpd"`

	Secrets Secrets `json:"secrets"` // IKE SA keys, named as in the RFCs

	IKEv2 *V2State `json:"ikev2,omitempty"`
	IKEv1 *V1State `json:"ikev1,omitempty"`

	Children []ChildRecord `json:"children"`
}

// SetLifecycle copies an SA's lifecycle into r.
func (r *Record) SetLifecycle(l *Lifecycle) {
	r.RekeyAt, r.NextKeepalive, r.BytesCheckAt, r.DPD = l.RekeyAt, l.NextKeepalive, l.BytesCheckAt, l.DPD.State()
	r.Established = l.Since
}

// Lifecycle is the lifecycle of the recorded SA.
func (r *Record) Lifecycle() Lifecycle {
	return Lifecycle{DPD: dpd.FromState(r.DPD), NextKeepalive: r.NextKeepalive, RekeyAt: r.RekeyAt, BytesCheckAt: r.BytesCheckAt,
		Since: r.Established}
}

// V2State is what an IKEv2 SA adds to a Record.
type V2State struct {
	NextMsgID     uint32   `json:"next_msgid"`    // our next request
	PeerMsgID     uint32   `json:"peer_msgid"`    // the peer's next request
	LastResponse  [][]byte `json:"last_response"` // our last response as sent (encrypted), for a retransmitted request
	PeerHashes    []uint16 `json:"peer_hashes,omitempty"`
	PeerFragments bool     `json:"peer_fragments"`
	PeerVendor    string   `json:"peer_vendor,omitempty"`
	// PeerMIDSync: both announced RFC 6311 message-ID synchronisation.
	PeerMIDSync bool `json:"peer_mid_sync,omitempty"`
}

// V1State is what an IKEv1 SA adds to a Record.
type V1State struct {
	Aggressive bool          `json:"aggressive"`
	Hash       uint16        `json:"hash"` // negotiated IKEv1 hash algorithm
	Auth       uint16        `json:"auth"` // IKEv1 authentication method
	Lifetime   time.Duration `json:"lifetime"`
	NATT       uint8         `json:"natt"` // 0 none, 1 draft, 2 RFC 3947
	PeerDPD    bool          `json:"peer_dpd"`
	Product    string        `json:"product,omitempty"`
	// PhaseTwoIV is the last CBC block of phase 1, from which every
	// phase 2 and Informational IV derives (RFC 2409 appendix B).
	PhaseTwoIV []byte `json:"phase2_iv"`
	// LastSent is our last phase 1 message and LastSentFor the digest of
	// the peer's message it answered: a retransmission of that message
	// gets it again. LastRecv is the digest of the peer's last phase 1
	// message.
	LastSent    [][]byte `json:"last_sent,omitempty"`
	LastSentFor []byte   `json:"last_sent_for,omitempty"`
	LastRecv    []byte   `json:"last_recv,omitempty"`
}

// ClientRecord is a remote-access client's state in a Record.
type ClientRecord struct {
	User     string     `json:"user,omitempty"` // the EAP identity
	Identity string     `json:"identity"`       // whom the lease is for
	Device   string     `json:"device,omitempty"`
	VIP      netip.Addr `json:"vip,omitzero"`
	Pool     string     `json:"pool,omitempty"`
	Group    string     `json:"group,omitempty"`
	Ends     time.Time  `json:"ends,omitzero"` // RADIUS Session-Timeout
	Owner    string     `json:"owner"`         // policy.ChildSA.Owner of its CHILD SAs
}

// ChildRecord is one installed CHILD SA (IKEv1: phase 2 SA pair).
type ChildRecord struct {
	Conn          string        `json:"conn"`
	SPIIn         uint32        `json:"spi_in"`
	SPIOut        uint32        `json:"spi_out"`
	Proposal      Proposal      `json:"proposal"`
	Tunnel        bool          `json:"tunnel"`
	LocalTS       []Selector    `json:"local_ts"`
	RemoteTS      []Selector    `json:"remote_ts"`
	EncapLocal    uint16        `json:"encap_local_port,omitempty"`
	EncapRemote   uint16        `json:"encap_remote_port,omitempty"`
	Lifetime      time.Duration `json:"lifetime"`
	LifetimeBytes uint64        `json:"lifetime_bytes,omitempty"`
	RekeyAt       time.Time     `json:"rekey_at,omitzero"`
	Installed     time.Time     `json:"installed,omitzero"`
	// SeqOut and SeqIn are ESP sequence numbers for a takeover (cluster):
	// the restored SA sends from SeqOut+1 on and accepts inbound numbers
	// above SeqIn. The engines leave them zero; the runtime that
	// replicates records sets them from the dataplane, SeqOut reserved
	// ahead of what was sent so that no sequence number (and AEAD nonce)
	// is used twice.
	SeqOut  uint32  `json:"seq_out,omitempty"`
	SeqIn   uint32  `json:"seq_in,omitempty"`
	Secrets Secrets `json:"secrets"` // enc_in, integ_in, enc_out, integ_out
}

// Selector is one traffic selector: an address range with protocol and
// ports (IKEv1 client IDs are written as ranges with all ports).
type Selector struct {
	Proto     uint8      `json:"proto,omitempty"`
	StartPort uint16     `json:"start_port"`
	EndPort   uint16     `json:"end_port"`
	Start     netip.Addr `json:"start"`
	End       netip.Addr `json:"end"`
}

// PrefixSelectors writes prefixes as selectors for any protocol and port.
func PrefixSelectors(ps []netip.Prefix) []Selector {
	out := make([]Selector, 0, len(ps))
	for _, p := range ps {
		p = p.Masked()
		out = append(out, Selector{EndPort: 0xffff, Start: p.Addr(), End: policy.LastAddr(p)})
	}
	return out
}

// SelectorPrefixes covers selectors with prefixes.
func SelectorPrefixes(ss []Selector) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, policy.RangePrefixes(s.Start, s.End)...)
	}
	return out
}

// Identity is a policy.Identity in a Record.
type Identity struct {
	Type uint8  `json:"type"`
	Data []byte `json:"data"`
}

// RecordIdentity converts id for a Record.
func RecordIdentity(id policy.Identity) Identity { return Identity{Type: id.Type, Data: id.Data} }

// Policy is the identity as the policy database has it.
func (id Identity) Policy() policy.Identity { return policy.Identity{Type: id.Type, Data: id.Data} }

// Proposal is an oakley.Proposal in a Record: its transforms by their IANA
// numbers (IKEv2 numbering for both versions, as the engines keep them).
type Proposal []Transform

// Transform is one transform of a Proposal.
type Transform struct {
	Type   uint8  `json:"type"`
	ID     uint16 `json:"id"`
	KeyLen uint16 `json:"key_len,omitempty"`
}

// RecordProposal converts p for a Record.
func RecordProposal(p oakley.Proposal) Proposal {
	out := make(Proposal, len(p.Transforms))
	for i, t := range p.Transforms {
		out[i] = Transform{Type: uint8(t.Type), ID: t.ID, KeyLen: t.KeyLen}
	}
	return out
}

// Oakley is the proposal as the engines use it.
func (p Proposal) Oakley() oakley.Proposal {
	out := oakley.Proposal{Transforms: make([]oakley.Transform, len(p))}
	for i, t := range p {
		out.Transforms[i] = oakley.Transform{Type: oakley.TransformType(t.Type), ID: t.ID, KeyLen: t.KeyLen}
	}
	return out
}

// SPI is a 64-bit SPI or cookie, written as 16 hex digits (JSON numbers
// lose precision above 2^53 in many readers).
type SPI uint64

// MarshalText writes 16 hex digits.
func (s SPI) MarshalText() ([]byte, error) { return []byte(SPIHex(uint64(s))), nil }

// UnmarshalText reads hex digits.
func (s *SPI) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(string(b), 16, 64)
	if err != nil {
		return fmt.Errorf("SPI %q: %w", b, err)
	}
	*s = SPI(v)
	return nil
}

// Secret is key material in a Record. It prints as its length only (fmt,
// zap); encoding/json writes it as base64, which is what the record is
// for: handle the JSON as the secret it is.
type Secret []byte

// String hides the bytes.
func (s Secret) String() string { return fmt.Sprintf("[secret: %d bytes]", len(s)) }

// GoString hides the bytes from %#v too.
func (s Secret) GoString() string { return s.String() }

// Format hides the bytes from every fmt verb.
func (s Secret) Format(f fmt.State, _ rune) { f.Write([]byte(s.String())) }

// Secrets are named Secret values.
type Secrets map[string]Secret

// Need returns the secret called name, or an error naming it when it is
// missing or empty.
func (s Secrets) Need(name string) ([]byte, error) {
	v := s[name]
	if len(v) == 0 {
		return nil, fmt.Errorf("record lacks secret %q", name)
	}
	return []byte(v), nil
}

// String describes the record without any key material.
func (r *Record) String() string {
	return fmt.Sprintf("IKEv%d SA %q %s/%s %s-%s (%d CHILD SAs)", r.Version, r.Conn,
		SPIHex(uint64(r.SPIi)), SPIHex(uint64(r.SPIr)), r.Local, r.Remote, len(r.Children))
}

// MarshalLogObject logs the record's identity only: zap.Object(rec) and
// zap.Any(rec) never write keys.
func (r *Record) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddInt("version", r.Version)
	enc.AddString("conn", r.Conn)
	enc.AddString("spi_i", SPIHex(uint64(r.SPIi)))
	enc.AddString("spi_r", SPIHex(uint64(r.SPIr)))
	enc.AddString("peer", r.Remote.String())
	enc.AddInt("children", len(r.Children))
	return nil
}

// Key is the SPI the restoring engine files the SA under: IKEv2 the SPI
// we chose (to which the runtime also routes its messages, so the shard
// it belongs to), IKEv1 the initiator cookie (the runtime routes IKEv1 by
// the peer's address, Remote, instead).
func (r *Record) Key() uint64 {
	if r.Version == 2 && !r.Initiator {
		return uint64(r.SPIr)
	}
	return uint64(r.SPIi)
}

// Marshal encodes r as JSON, stamping the format.
func (r *Record) Marshal() ([]byte, error) {
	r.Format = RecordFormat
	return json.Marshal(r)
}

// UnmarshalRecord decodes a record and checks what every restore needs.
func UnmarshalRecord(b []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("SA record: %w", err)
	}
	if err := r.Check(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Check reports what makes r unusable for a restore.
func (r *Record) Check() error {
	switch {
	case r.Format != RecordFormat:
		return fmt.Errorf("SA record: format %d, this ikegate reads format %d", r.Format, RecordFormat)
	case r.Version == 2 && r.IKEv2 == nil, r.Version == 1 && r.IKEv1 == nil:
		return fmt.Errorf("SA record: IKEv%d record without its IKEv%d state", r.Version, r.Version)
	case r.Version != 1 && r.Version != 2:
		return fmt.Errorf("SA record: IKE version %d", r.Version)
	case r.SPIi == 0 || r.SPIr == 0:
		return errors.New("SA record: zero SPI")
	case !r.Local.IsValid() || !r.Remote.IsValid():
		return errors.New("SA record: addresses missing")
	case len(r.Proposal) == 0:
		return errors.New("SA record: no proposal")
	case r.RemoteAccess:
		return errors.New("SA record: a remote-access SA (its user and virtual address are not in records yet)")
	}
	return nil
}

// ChildRecord returns the record of an installed CHILD SA.
func (ch *Child) Record(local, remote []Selector) ChildRecord {
	k := ch.Kernel
	return ChildRecord{
		Conn: ch.Conn.Name, SPIIn: ch.SPIIn, SPIOut: ch.SPIOut, Proposal: RecordProposal(ch.Chosen),
		Tunnel: k.Tunnel, LocalTS: local, RemoteTS: remote,
		EncapLocal: k.EncapLocalPort, EncapRemote: k.EncapRemotePort,
		Lifetime: k.Lifetime, LifetimeBytes: k.LifetimeBytes, RekeyAt: ch.RekeyAt, Installed: ch.Since,
		Secrets: Secrets{"enc_in": k.EncKeyIn, "integ_in": k.IntegKeyIn, "enc_out": k.EncKeyOut, "integ_out": k.IntegKeyOut},
	}
}

// RestoreChild rebuilds an installed CHILD SA from its record between
// local and remote, speaking for owner (policy.ChildSA.Owner), and asks the runtime to install it (RequestInstall: a
// new reqid; the SPIs and keys of the record). The engine adds the
// selectors of its version and, with the answer, calls InstallDone with
// the record's RekeyAt.
func (c *Core[S, C, W]) RestoreChild(rec ChildRecord, local, remote netip.Addr, owner string) (*Child, uint64, error) {
	conn := c.Cfg.DB.Lookup(rec.Conn)
	if conn == nil {
		return nil, 0, fmt.Errorf("CHILD SA %08x: no connection named %q", rec.SPIIn, rec.Conn)
	}
	chosen := rec.Proposal.Oakley()
	alg, err := ChildAlgorithms(chosen)
	if err != nil {
		return nil, 0, fmt.Errorf("CHILD SA %08x: %w", rec.SPIIn, err)
	}
	var keys [4][]byte
	for i, name := range []string{"enc_in", "integ_in", "enc_out", "integ_out"} {
		keys[i] = []byte(rec.Secrets[name])
	}
	if len(keys[0]) != alg.EncLen || len(keys[2]) != alg.EncLen || len(keys[1]) != alg.IntegLen || len(keys[3]) != alg.IntegLen {
		return nil, 0, fmt.Errorf("CHILD SA %08x: key lengths do not fit %s", rec.SPIIn, chosen)
	}
	k := &policy.ChildSA{
		ConnName: conn.Name, Tunnel: rec.Tunnel, Local: local, Remote: remote,
		EncapLocalPort: rec.EncapLocal, EncapRemotePort: rec.EncapRemote,
		SPIIn: rec.SPIIn, SPIOut: rec.SPIOut, Encr: alg.Encr, Integ: alg.Integ,
		EncKeyIn: keys[0], IntegKeyIn: keys[1], EncKeyOut: keys[2], IntegKeyOut: keys[3],
		LocalTS: SelectorPrefixes(rec.LocalTS), RemoteTS: SelectorPrefixes(rec.RemoteTS),
		Lifetime: rec.Lifetime, LifetimeBytes: rec.LifetimeBytes,
		ResumeSeqOut: rec.SeqOut, ResumeSeqIn: rec.SeqIn, Owner: owner,
	}
	ch := &Child{Conn: conn, SPIIn: rec.SPIIn, SPIOut: rec.SPIOut, Chosen: chosen, Since: rec.Installed}
	return ch, c.RequestInstall(ch, k), nil
}
