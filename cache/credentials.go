// Package cache holds the edge's ristretto caches. Credentials remembers
// verified secrets so that bcrypt runs once per TTL per user and secret.
package cache

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Credentials caches verified secrets under a hash of (user, presented
// secret, stored hash): the secret itself is never stored, and a changed
// stored hash (new password in the config) misses by construction.
type Credentials struct {
	c   *ristretto.Cache[string, struct{}]
	ttl time.Duration
}

// NewCredentials returns a cache holding up to about maxEntries verified secrets.
func NewCredentials(maxEntries int64, ttl time.Duration) (*Credentials, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, struct{}]{
		NumCounters: maxEntries * 10,
		MaxCost:     maxEntries,
		BufferItems: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("credential cache: %w", err)
	}
	return &Credentials{c: c, ttl: ttl}, nil
}

// Key derives the cache key.
func Key(user, secret, storedHash string) string {
	h := sha256.New()
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(secret))
	h.Write([]byte{0})
	h.Write([]byte(storedHash))
	return string(h.Sum(nil))
}

// Verified says the key was verified within the TTL.
func (c *Credentials) Verified(key string) bool {
	_, ok := c.c.Get(key)
	return ok
}

// Remember records a verified key for the TTL.
func (c *Credentials) Remember(key string) {
	if c.ttl <= 0 {
		return
	}
	c.c.SetWithTTL(key, struct{}{}, 1, c.ttl)
}

// Wait blocks until pending writes are applied (tests).
func (c *Credentials) Wait() { c.c.Wait() }

// Close stops the cache's goroutines.
func (c *Credentials) Close() { c.c.Close() }
