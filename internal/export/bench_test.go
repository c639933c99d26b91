package export_test

import (
	"context"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/export"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// BenchmarkExportChunk reads chunks of 100,000 rows (a day of calls at
// 100,000 a day) from the sandbox over HTTP and publishes them to an
// embedded JetStream, one chunk per iteration: rows a second of decoding
// and publishing, and the peak of the heap in use (the sandbox, the
// server and the exporter together, all in this process).
func BenchmarkExportChunk(b *testing.B) {
	srv := natstest.Server(b)
	nc, _ := natstest.Connect(b, srv.ClientURL())
	const days = 30
	emu, err := emulator.New(emulator.Config{Seed: 1, Location: msk, SeedHistory: days, HistoryPerDay: 100_000,
		Limits: map[string]int{"*": 1 << 20}})
	require.NoError(b, err)
	hs := httptest.NewServer(emu)
	b.Cleanup(hs.Close)
	api, err := soap.New(soap.Config{URL: hs.URL + emulator.Path, User: "admin", Password: "admin", MaxResponseBytes: 1 << 30})
	require.NoError(b, err)
	b.Cleanup(api.Close)
	lim, err := quota.NewLocal(quota.Config{Windows: quota.Windows{Location: msk},
		Limits: quota.Limits{Catalogue: catalog.HourlyLimits, Reserve: -1, Override: map[string]int{"*": 1 << 20}}})
	require.NoError(b, err)
	r, err := export.New(export.Config{Conn: nc, API: api, Limiter: lim, Location: msk, MaxResponseBytes: 1 << 30,
		DuplicateWindow: time.Minute})
	require.NoError(b, err)

	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	})
	first := time.Now().In(msk).AddDate(0, 0, -days)
	y, m, d := first.Date()
	first = time.Date(y, m, d+1, 0, 0, 0, 0, msk)
	rows := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// A day of 100,000 rows on average; another day each time, so
		// that every row is new to the stream.
		from := first.AddDate(0, 0, i%(days-1))
		res, err := r.Rerun(context.Background(), "GetHistoryOfSIPCalls", from, from.Add(24*time.Hour))
		require.NoError(b, err)
		rows += res.Rows
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(rows)/float64(b.N), "rows/chunk")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
}
