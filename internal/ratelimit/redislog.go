package ratelimit

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// RouteRedisLogs sends go-redis's own log lines (one per failed dial while
// Redis is down) to log at debug level instead of unstructured stderr; the
// store logs the state changes that matter. go-redis keeps its logger in a
// process-wide variable, so only cmd/portcullis calls this, once, at
// start.
func RouteRedisLogs(log *slog.Logger) { redis.SetLogger(redisLog{log}) }

type redisLog struct{ log *slog.Logger }

// Printf implements go-redis's logging interface.
func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client", "message", fmt.Sprintf(format, v...))
}
