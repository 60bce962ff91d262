package pg

// BootstrapOptions are initdb options.
type BootstrapOptions struct {
	// Encoding of the new cluster. Default "UTF8".
	Encoding string
	// Locale of the new cluster. Default "C".
	Locale string
	// DataChecksums enables data page checksums (initdb -k).
	DataChecksums bool
	// NoSync skips initdb's final fsync: faster, for tests.
	NoSync bool
	// InitdbArgs are extra initdb arguments.
	InitdbArgs []string
}
