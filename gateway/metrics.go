package gateway

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/policy"
)

// The Prometheus endpoint (gateway.metrics_listen): GET /metrics. Nothing
// is counted for it on the packet path: a scrape gathers what the gateway
// already keeps, as `ikegate stats` and `ikegate sas` do (the engines'
// counters and SAs, read on the shards; the dataplane's counters; the
// dispatcher's atomics; the pools' leases). Labels are bounded: IKE
// version, SA state, connection name (configured connections only, never
// per SA or per peer), pool name, drop reason.

// metricsScrapeTimeout bounds how long a scrape waits for the shards.
const metricsScrapeTimeout = 5 * time.Second

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	mInfo = newDesc("ipsec_ikegate_info", "Build information of the running ikegate (always 1).", "version", "goversion")

	mIKESAs = newDesc("ipsec_ike_sas",
		"IKE SAs (IKEv1: ISAKMP SAs) by IKE version and state (ESTABLISHED once up).", "version", "state")
	mHalfOpen = newDesc("ipsec_ike_half_open",
		"Responder IKE SAs half-open now (not yet authenticated).", "version")
	mChildSAs = newDesc("ipsec_child_sas",
		"Installed CHILD SAs (IKEv1: phase 2 SAs) by connection.", "conn")
	mChildBytes = newDesc("ipsec_child_bytes_total",
		"Traffic of a connection's CHILD SAs, installed and removed (rekeyed, deleted), in bytes as the dataplane counts them; only with a dataplane that counts (xfrm, userspace).", "conn", "direction")
	mChildPackets = newDesc("ipsec_child_packets_total",
		"Packets of a connection's CHILD SAs, installed and removed; only with a dataplane that counts (xfrm, userspace).", "conn", "direction")

	mEstablished = newDesc("ipsec_ike_established_total",
		"IKE SAs established (either role, rekeys included).", "version")
	mAuthFailures = newDesc("ipsec_auth_failures_total",
		"IKE authentications that failed.", "version")
	mMsgDropped = newDesc("ipsec_messages_dropped_total",
		"IKE messages the engines dropped: malformed, unexpected or unauthenticated.", "version")
	mUnknownSPI = newDesc("ipsec_messages_unknown_sa_total",
		"IKE messages for IKE SAs the gateway does not have (IKEv2: SPI, IKEv1: cookies).", "version")
	mCookies = newDesc("ipsec_cookies_sent_total",
		"IKEv2 COOKIE demands sent (RFC 7296 2.6).")
	mHalfOpenEvicted = newDesc("ipsec_ike_half_open_evicted_total",
		"Unproven half-open IKE SAs evicted to make room (flood defence).", "version")
	mHalfOpenRefused = newDesc("ipsec_ike_half_open_refused_total",
		"First IKE messages refused because the half-open table was full (flood defence).", "version")

	mDatagramsIn = newDesc("ipsec_datagrams_received_total",
		"UDP datagrams received on the IKE and NAT-T ports, by what the dispatcher found them to be.", "kind")
	mDatagramsOut = newDesc("ipsec_datagrams_sent_total",
		"UDP datagrams sent from the IKE and NAT-T ports.", "kind")
	mGatewayDrops = newDesc("ipsec_gateway_drops_total",
		"Datagrams the gateway dropped before or instead of an engine, by reason.", "reason")
	mDataplaneDrops = newDesc("ipsec_dataplane_drops_total",
		"Packets the dataplane dropped, by reason; only with a dataplane that counts drops (userspace).", "reason")

	mTUNQueues = newDesc("ipsec_dataplane_tun_queues",
		"Queues of the dataplane's TUN device, one reader each (userspace only).")
	mTUNQueueReads = newDesc("ipsec_dataplane_tun_queue_packets_total",
		"Packets read from each queue of the dataplane's TUN device (as `ikegate stats` \"tun_queue_reads\"; userspace only).", "queue")

	mPool = newDesc("ipsec_pool_addresses",
		"Addresses of a remote-access pool, leased or free.", "pool", "state")

	mClusterOwned = newDesc("ipsec_cluster_service_addresses",
		"Cluster service addresses this node serves now.")
	mClusterLease = newDesc("ipsec_cluster_lease_held",
		"1 while this node holds its cluster lease in etcd, 0 when it is fenced or not joined.")
	mClusterTakeovers = newDesc("ipsec_cluster_takeovers_total",
		"Cluster service addresses this node took over.")
	mClusterRestored = newDesc("ipsec_cluster_sas_restored_total",
		"IKE SAs restored from etcd in takeovers.")
	mClusterFences = newDesc("ipsec_cluster_fences_total",
		"Times this node lost its lease and stopped serving its addresses.")
	mClusterWrites = newDesc("ipsec_cluster_state_writes_total",
		"SA records written to or deleted from etcd.")
	mClusterWriteErrors = newDesc("ipsec_cluster_state_write_errors_total",
		"Failed batch writes of SA state (retried).")
	mClusterLag = newDesc("ipsec_cluster_replication_lag_seconds",
		"Age of the oldest SA state change in the last batch written to etcd.")
)

// metricsCollector is the gateway's prometheus.Collector.
type metricsCollector struct {
	g    *Gateway
	info [2]string // version, Go version
}

func newMetricsCollector(g *Gateway) *metricsCollector {
	c := &metricsCollector{g: g, info: [2]string{"unknown", "unknown"}}
	if bi, ok := debug.ReadBuildInfo(); ok {
		c.info = [2]string{bi.Main.Version, bi.GoVersion}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && (bi.Main.Version == "" || bi.Main.Version == "(devel)") {
				c.info[0] = "(devel) " + s.Value
			}
		}
	}
	return c
}

// Describe sends every metric's description.
func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		mInfo, mIKESAs, mHalfOpen, mChildSAs, mChildBytes, mChildPackets,
		mEstablished, mAuthFailures, mMsgDropped, mUnknownSPI, mCookies, mHalfOpenEvicted, mHalfOpenRefused,
		mDatagramsIn, mDatagramsOut, mGatewayDrops, mDataplaneDrops, mTUNQueues, mTUNQueueReads, mPool,
		mClusterOwned, mClusterLease, mClusterTakeovers, mClusterRestored, mClusterFences, mClusterWrites,
		mClusterWriteErrors, mClusterLag,
	} {
		ch <- d
	}
}

var versionLabels = [2]string{v1: "ikev1", v2: "ikev2"}

// Collect gathers the metrics on a scrape. Without the shards (the
// gateway is not running, or they did not answer in time) the engine
// metrics are left out and the rest reported.
func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	g := c.g
	ctx, cancel := context.WithTimeout(context.Background(), metricsScrapeTimeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(mInfo, 1, c.info[0], c.info[1])

	// The engines: IKE SAs and counters, in one visit of each shard.
	type sums struct {
		sas      [2]map[string]int // by version, then state
		children map[string]int    // installed CHILD SAs by connection
		counters [2]engine.Counters
	}
	var mu sync.Mutex
	s := sums{sas: [2]map[string]int{{}, {}}, children: map[string]int{}}
	err := g.runOnAll(ctx, func(_ int, sh *shard, _ time.Time) {
		mu.Lock()
		defer mu.Unlock()
		for i, e := range sh.engines {
			for _, sa := range e.SAs() {
				s.sas[i][sa.State]++
				for _, child := range sa.Children {
					if child.State == "INSTALLED" {
						s.children[sa.Name]++
					}
				}
			}
			s.counters[i].Add(e.Stats())
		}
	})
	if err != nil {
		g.log.Debug("metrics: the shards did not answer; engine metrics left out", zap.Error(err))
	} else {
		mu.Lock()
		for i, ver := range versionLabels {
			if _, ok := s.sas[i]["ESTABLISHED"]; !ok {
				s.sas[i]["ESTABLISHED"] = 0 // always there, for alerts on it
			}
			for state, n := range s.sas[i] {
				gauge(mIKESAs, float64(n), ver, state)
			}
			sum := s.counters[i]
			gauge(mHalfOpen, float64(sum.HalfOpen), ver)
			counter(mEstablished, sum.Established, ver)
			counter(mAuthFailures, sum.AuthFailures, ver)
			counter(mMsgDropped, sum.Dropped, ver)
			counter(mUnknownSPI, sum.UnknownSPI, ver)
			counter(mHalfOpenEvicted, sum.HalfOpenEvicted, ver)
			counter(mHalfOpenRefused, sum.HalfOpenRefused, ver)
		}
		counter(mCookies, s.counters[v2].CookiesSent)
		for _, conn := range connNames(g.dbNow().Connections(), s.children) {
			gauge(mChildSAs, float64(s.children[conn]), conn)
		}
		mu.Unlock()
	}

	// Per-connection traffic, monotonic across rekeys (selectorGuard).
	if g.caps.Counters {
		traffic := g.guard.connTraffic()
		for _, conn := range connNames(g.dbNow().Connections(), traffic) {
			t := traffic[conn]
			counter(mChildBytes, t.InBytes, conn, "in")
			counter(mChildBytes, t.OutBytes, conn, "out")
			counter(mChildPackets, t.InPackets, conn, "in")
			counter(mChildPackets, t.OutPackets, conn, "out")
		}
	}

	// The dispatcher's counters, named as `ikegate stats` names them.
	st := g.stats.snapshot(len(g.shards))
	for kind, n := range st.PacketsIn {
		counter(mDatagramsIn, n, kind)
	}
	for kind, n := range st.PacketsOut {
		counter(mDatagramsOut, n, kind)
	}
	for reason, n := range st.Drops {
		counter(mGatewayDrops, n, reason)
	}

	// The dataplane's drops, named as `ikegate stats` names them.
	if g.caps.Drops {
		for reason, n := range dataplaneDrops(g.backend.Stats()) {
			counter(mDataplaneDrops, n, reason)
		}
	}
	if q, ok := g.backend.(policy.TUNQueueCounter); ok {
		reads := q.TUNQueueReads()
		gauge(mTUNQueues, float64(len(reads)))
		for i, n := range reads {
			counter(mTUNQueueReads, n, strconv.Itoa(i))
		}
	}

	// Remote-access pools.
	if g.ra != nil {
		for _, u := range g.ra.pools.Usage() {
			gauge(mPool, float64(u.Leased), u.Name, "leased")
			gauge(mPool, max(u.Size-float64(u.Leased), 0), u.Name, "free")
		}
	}

	// Cluster membership.
	if cs, ok := g.clusterStats(); ok {
		lease := 0.0
		if cs.Lease {
			lease = 1
		}
		gauge(mClusterOwned, float64(cs.Owned))
		gauge(mClusterLease, lease)
		counter(mClusterTakeovers, cs.Takeovers)
		counter(mClusterRestored, cs.Restored)
		counter(mClusterFences, cs.Fences)
		counter(mClusterWrites, cs.Writes)
		counter(mClusterWriteErrors, cs.WriteErrors)
		gauge(mClusterLag, cs.Lag.Seconds())
	}
}

// connNames are the configured connections and any other name in seen,
// sorted: every configured connection has its series from the start.
func connNames[T any](conns []*policy.Connection, seen map[string]T) []string {
	all := make(map[string]bool, len(conns)+len(seen))
	for _, c := range conns {
		all[c.Name] = true
	}
	for name := range seen {
		if name != "" {
			all[name] = true
		}
	}
	return slices.Sorted(maps.Keys(all))
}

// MetricsHandler is the Prometheus handler of the gateway's metrics (the
// ipsec_* metrics and the Go runtime's and process's), as served on
// gateway.metrics_listen at /metrics.
func (g *Gateway) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newMetricsCollector(g),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      zap.NewStdLog(g.log.Named("metrics")),
		ErrorHandling: promhttp.ContinueOnError,
		Timeout:       metricsScrapeTimeout + time.Second,
	})
}

// listenMetrics binds gateway.metrics_listen (New: a busy port is
// reported before Run).
func listenMetrics(addr string) (net.Listener, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	return net.Listen("tcp", ap.String())
}

// serveMetrics serves /metrics on g.metricsLn until ctx is done.
func (g *Gateway) serveMetrics(ctx context.Context, wg *sync.WaitGroup) {
	if g.metricsLn == nil {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", g.MetricsHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 2 * metricsScrapeTimeout,
		ErrorLog: zap.NewStdLog(g.log.Named("metrics"))}
	g.log.Info("serving Prometheus metrics", zap.String("address", "http://"+g.metricsLn.Addr().String()+"/metrics"))
	wg.Go(func() {
		if err := srv.Serve(g.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("metrics endpoint stopped", zap.Error(err))
		}
	})
	wg.Go(func() {
		<-ctx.Done()
		srv.Close()
	})
}
