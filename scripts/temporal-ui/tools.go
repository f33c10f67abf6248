//go:build tools

// Pins the Temporal Web UI server for scripts/build-temporal-ui.sh.
package tools

import _ "github.com/temporalio/ui-server/v2/cmd/server"
