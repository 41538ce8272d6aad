// Package mmsg makes the recvmmsg(2) and sendmmsg(2) calls of the batched
// socket paths (the gateway's IKE and ESP-in-UDP sockets, the userspace
// dataplane's raw ESP sockets) from inside a syscall.RawConn callback,
// so that Go's poller does the waiting and nothing is allocated per call.
// Linux only.
package mmsg
