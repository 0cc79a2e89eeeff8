package integration

import (
	"testing"

	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// TestMain stops what the package's tests share (the Milvus standalone of
// testenv.MilvusStandalone) once they have run.
func TestMain(m *testing.M) { testenv.Main(m) }
