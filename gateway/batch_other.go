//go:build !linux

package gateway

import (
	"net"

	"go.uber.org/zap"

	"ikegate/policy"
)

// batchReader is the fallback of batch_linux.go's: one datagram per read,
// into one buffer it owns.
type batchReader struct {
	conn *net.UDPConn
	buf  []byte
	msgs []rxMsg
}

func newBatchReader(conn *net.UDPConn, _, size int) (*batchReader, error) {
	return &batchReader{conn: conn, buf: make([]byte, size), msgs: make([]rxMsg, 1)}, nil
}

// read waits for one datagram; it aliases the reader's buffer until the
// next read.
func (r *batchReader) read() ([]rxMsg, error) {
	n, from, err := r.conn.ReadFromUDPAddrPort(r.buf)
	if err != nil {
		return nil, err
	}
	r.msgs[0] = rxMsg{b: r.buf[:n], from: unmapAP(from)}
	return r.msgs, nil
}

// batchWriter is the fallback of batch_linux.go's: one datagram per
// write, the non-ESP marker put in front in a scratch buffer.
type batchWriter struct {
	scratch []byte
}

func newBatchWriter(int) *batchWriter { return &batchWriter{} }

// write sends msgs one by one from s and sets res[i] to the error of
// msgs[i].
func (w *batchWriter) write(s *socket, msgs []txMsg, res []error) {
	for i, m := range msgs {
		b := m.data
		if m.marker {
			w.scratch = append(append(w.scratch[:0], nonESPMarker[:]...), m.data...)
			b = w.scratch
		}
		_, res[i] = s.conn.WriteToUDPAddrPort(b, m.to)
	}
}

// enableUDPOffloads does nothing: UDP GRO and GSO are Linux's.
func enableUDPOffloads(*socket, *zap.Logger) {}

// sendESPBatch sends the userspace dataplane's ESP datagrams one by one
// (policy.ESPBatcher) and returns how many could not be sent.
func (g *Gateway) sendESPBatch(ds []policy.ESPDatagram) (failed int) {
	for _, d := range ds {
		if g.sendESP(d.Local, d.Remote, d.B) != nil {
			failed++
		}
	}
	return failed
}
