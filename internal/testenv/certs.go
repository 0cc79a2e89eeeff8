package testenv

import (
	"testing"

	"github.com/milvus-edge/milvus-edge/internal/testcerts"
)

// CA is a test certificate authority (internal/testcerts).
type CA = testcerts.CA

// Leaf says what a certificate the CA issues holds.
type Leaf = testcerts.Leaf

// NewCA makes a CA named cn whose files live in the test's temp dir.
func NewCA(t testing.TB, cn string) *CA { return testcerts.New(t, cn) }

// ServerLeaf is a server certificate for 127.0.0.1 and localhost.
func ServerLeaf() Leaf { return testcerts.ServerLeaf() }
