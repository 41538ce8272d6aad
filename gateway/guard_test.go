package gateway

import (
	"testing"

	"go.uber.org/zap"
)

// A panic while a shard handles something is contained: counted, logged,
// and the shard goes on.
func TestShardGuard(t *testing.T) {
	g := &Gateway{}
	sh := &shard{g: g, log: zap.NewNop()}
	ran := false
	sh.guard("test", func() { panic("boom") })
	sh.guard("test", func() { ran = true })
	if !ran {
		t.Fatal("the shard did not go on after a panic")
	}
	if n := g.stats.drops[ReasonEnginePanic].Load(); n != 1 {
		t.Fatalf("engine_panic drops %d, want 1", n)
	}
}
