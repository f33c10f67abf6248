//go:build tools

// Pins the Temporal server and its SQL schema tool for scripts/build-temporal-server.sh.
package tools

import (
	_ "go.temporal.io/server/cmd/server"
	_ "go.temporal.io/server/cmd/tools/sql"
)
