//go:build !race

package idempotency_test

// defaultTrials of TestDuplicatesAcrossInstances: the 1000.
const defaultTrials = 1000
