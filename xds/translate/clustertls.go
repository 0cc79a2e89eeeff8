package translate

import (
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// clusterTLS is a cluster's TLS with the files' contents config.Validate
// read (translation does no I/O); nil without clusters[].tls.
func clusterTLS(cl config.Cluster) *ir.ClusterTLS {
	if cl.TLS == nil {
		return nil
	}
	cert, key := cl.TLS.ClientCert()
	return &ir.ClusterTLS{
		ServerName: cl.TLSServerName(),
		CA:         cl.TLS.CA(),
		ClientCert: cert,
		ClientKey:  ir.Secret(key.Reveal()),
	}
}
