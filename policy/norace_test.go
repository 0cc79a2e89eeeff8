//go:build !race

package policy

// raceEnabled: the race detector adds allocations, so alloc budgets skip.
const raceEnabled = false
