module ikegate

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/vishvananda/netlink v1.3.1
	github.com/vishvananda/netns v0.0.5
	go.uber.org/zap v1.28.0
	golang.org/x/crypto v0.58.0
	golang.org/x/sys v0.49.0
)

require (
	go.uber.org/multierr v1.10.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	layeh.com/radius v0.0.0-20231213012653-1006025d24f8 // indirect
)
