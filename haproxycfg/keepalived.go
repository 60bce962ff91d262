package haproxycfg

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// KeepalivedOptions describes the VRRP instance of one of the two HAProxy
// hosts of the guides' layout: the host whose HAProxy serves and whose
// priority is highest holds the virtual IP.
type KeepalivedOptions struct {
	// InstanceName names the vrrp_instance; default "VI_PGHA".
	InstanceName string
	// Interface is the network interface VRRP runs on. Required.
	Interface string
	// VirtualRouterID (1-255) must be equal on both hosts and unique on
	// the network segment. Required.
	VirtualRouterID int
	// Priority (1-254, default 100); give the preferred host the higher one.
	Priority int
	// State is the initial state, "BACKUP" (default) or "MASTER".
	State string
	// AdvertInterval is the VRRP advertisement period in whole seconds
	// (default 1 s).
	AdvertInterval time.Duration
	// NoPreempt keeps the virtual IP where it is when a higher-priority host
	// returns (requires State BACKUP).
	NoPreempt bool
	// AuthPass, when set, enables PASS authentication (1-8 letters/digits).
	AuthPass string
	// VirtualIPs are the addresses to hold, as IP or CIDR. At least one.
	VirtualIPs []string
	// UnicastSrcIP and UnicastPeers switch VRRP from multicast to unicast.
	UnicastSrcIP string
	UnicastPeers []string

	// CheckScript is the chk_haproxy command; required. It must succeed
	// only while the local HAProxy serves, not merely while its process
	// exists: pgha-proxy uses "pgha-proxy check-haproxy", which asks the
	// runtime API for a read-write server up and connects to the
	// read-write port ([CheckServing]). Absolute program path, arguments of
	// [A-Za-z0-9/._+=:,-], single spaces.
	CheckScript string
	// CheckInterval is the script period in whole seconds (default 2 s).
	CheckInterval time.Duration
	// CheckTimeout, when set, is how long the script may run before it
	// counts as failed (whole seconds; Keepalived's default is
	// CheckInterval). A check program that starts slowly on a loaded host
	// needs more than the interval.
	CheckTimeout time.Duration
	// CheckWeight is added to the priority while the script succeeds
	// (default 2; -254..254, non-zero). It must exceed the difference
	// between the two hosts' priorities, or a failing check does not move
	// the virtual IP. A positive weight (rather than none, which puts the
	// instance into FAULT) keeps the virtual IP somewhere when both checks
	// fail, for example while the cluster has no leader.
	CheckWeight int
	// CheckFall and CheckRise are the consecutive results that change the
	// script's state (default 2 each).
	CheckFall int
	CheckRise int
	// ScriptUser, when set, emits global_defs with enable_script_security
	// and this script_user.
	ScriptUser string

	// NotifyMaster, NotifyBackup, NotifyFault and NotifyStop are commands
	// run on entering that state; Notify is run on every transition with
	// Keepalived's arguments appended ("INSTANCE" NAME STATE PRIORITY).
	// Same syntax as CheckScript; empty ones are left out.
	NotifyMaster string
	NotifyBackup string
	NotifyFault  string
	NotifyStop   string
	Notify       string
}

func (o KeepalivedOptions) withDefaults() KeepalivedOptions {
	if o.InstanceName == "" {
		o.InstanceName = "VI_PGHA"
	}
	if o.Priority == 0 {
		o.Priority = 100
	}
	if o.State == "" {
		o.State = "BACKUP"
	}
	if o.AdvertInterval == 0 {
		o.AdvertInterval = time.Second
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = 2 * time.Second
	}
	if o.CheckWeight == 0 {
		o.CheckWeight = 2
	}
	if o.CheckFall == 0 {
		o.CheckFall = 2
	}
	if o.CheckRise == 0 {
		o.CheckRise = 2
	}
	return o
}

// Validate checks the options after defaults; the error is a [*FieldError]
// naming the field.
func (o KeepalivedOptions) Validate() error {
	o = o.withDefaults()
	if err := checkToken("InstanceName", o.InstanceName, 64); err != nil {
		return err
	}
	if err := checkInterface(o.Interface); err != nil {
		return err
	}
	if o.VirtualRouterID < 1 || o.VirtualRouterID > 255 {
		return fieldErr("", "VirtualRouterID", "%d out of range 1-255", o.VirtualRouterID)
	}
	if o.Priority < 1 || o.Priority > 254 {
		return fieldErr("", "Priority", "%d out of range 1-254", o.Priority)
	}
	if o.State != "MASTER" && o.State != "BACKUP" {
		return fieldErr("", "State", "%s is neither MASTER nor BACKUP", quoteShort(o.State))
	}
	if o.NoPreempt && o.State != "BACKUP" {
		return fieldErr("", "NoPreempt", "needs State BACKUP")
	}
	if err := wholeSeconds("AdvertInterval", o.AdvertInterval, 255); err != nil {
		return err
	}
	if err := wholeSeconds("CheckInterval", o.CheckInterval, 3600); err != nil {
		return err
	}
	if o.CheckTimeout != 0 {
		if err := wholeSeconds("CheckTimeout", o.CheckTimeout, 3600); err != nil {
			return err
		}
	}
	if o.AuthPass != "" {
		if len(o.AuthPass) > 8 {
			return fieldErr("", "AuthPass", "longer than 8 characters (VRRP PASS authentication keeps 8)")
		}
		for _, r := range o.AuthPass {
			if !isAlnum(r) {
				return fieldErr("", "AuthPass", "character %q not allowed (letters and digits)", r)
			}
		}
	}
	if len(o.VirtualIPs) == 0 {
		return fieldErr("", "VirtualIPs", "at least one virtual IP is required")
	}
	for i, v := range o.VirtualIPs {
		if err := checkIPOrCIDR("VirtualIPs["+strconv.Itoa(i)+"]", v); err != nil {
			return err
		}
	}
	if o.UnicastSrcIP != "" {
		if _, err := netip.ParseAddr(o.UnicastSrcIP); err != nil || strings.Contains(o.UnicastSrcIP, "%") {
			return fieldErr("", "UnicastSrcIP", "%s is not an IP address", quoteShort(o.UnicastSrcIP))
		}
	}
	for i, p := range o.UnicastPeers {
		if _, err := netip.ParseAddr(p); err != nil || strings.Contains(p, "%") {
			return fieldErr("", "UnicastPeers["+strconv.Itoa(i)+"]", "%s is not an IP address", quoteShort(p))
		}
	}
	if o.CheckScript == "" {
		return fieldErr("", "CheckScript", "required: a command that succeeds only while HAProxy serves (for example pgha-proxy check-haproxy)")
	}
	if err := checkCommand("CheckScript", o.CheckScript); err != nil {
		return err
	}
	for _, n := range o.notifies() {
		if err := checkCommand(n.field, n.cmd); err != nil {
			return err
		}
	}
	if o.CheckWeight < -254 || o.CheckWeight > 254 {
		return fieldErr("", "CheckWeight", "%d out of range -254..254", o.CheckWeight)
	}
	if o.CheckFall < 1 || o.CheckFall > 100 {
		return fieldErr("", "CheckFall", "%d out of range 1-100", o.CheckFall)
	}
	if o.CheckRise < 1 || o.CheckRise > 100 {
		return fieldErr("", "CheckRise", "%d out of range 1-100", o.CheckRise)
	}
	if o.ScriptUser != "" {
		if err := checkToken("ScriptUser", o.ScriptUser, 32); err != nil {
			return err
		}
	}
	return nil
}

type notify struct{ field, keyword, cmd string }

// notifies returns the notify commands that are set, in rendering order.
func (o KeepalivedOptions) notifies() []notify {
	var out []notify
	for _, n := range []notify{
		{"NotifyMaster", "notify_master", o.NotifyMaster},
		{"NotifyBackup", "notify_backup", o.NotifyBackup},
		{"NotifyFault", "notify_fault", o.NotifyFault},
		{"NotifyStop", "notify_stop", o.NotifyStop},
		{"Notify", "notify", o.Notify},
	} {
		if n.cmd != "" {
			out = append(out, n)
		}
	}
	return out
}

// RenderKeepalived returns a keepalived.conf with a chk_haproxy vrrp_script
// and one vrrp_instance tracking it. It only renders; it never runs
// Keepalived.
func RenderKeepalived(opts KeepalivedOptions) ([]byte, error) {
	o := opts.withDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("# Generated by pgha haproxycfg. Holds the virtual IP while the local\n# HAProxy serves.\n")
	if o.ScriptUser != "" {
		b.WriteString("global_defs {\n    enable_script_security\n    script_user " + o.ScriptUser + "\n}\n\n")
	}
	b.WriteString("vrrp_script chk_haproxy {\n")
	b.WriteString("    script \"" + o.CheckScript + "\"\n")
	b.WriteString("    interval " + strconv.Itoa(int(o.CheckInterval/time.Second)) + "\n")
	if o.CheckTimeout != 0 {
		b.WriteString("    timeout " + strconv.Itoa(int(o.CheckTimeout/time.Second)) + "\n")
	}
	b.WriteString("    weight " + strconv.Itoa(o.CheckWeight) + "\n")
	b.WriteString("    fall " + strconv.Itoa(o.CheckFall) + "\n")
	b.WriteString("    rise " + strconv.Itoa(o.CheckRise) + "\n")
	b.WriteString("}\n\n")
	b.WriteString("vrrp_instance " + o.InstanceName + " {\n")
	b.WriteString("    interface " + o.Interface + "\n")
	b.WriteString("    state " + o.State + "\n")
	b.WriteString("    virtual_router_id " + strconv.Itoa(o.VirtualRouterID) + "\n")
	b.WriteString("    priority " + strconv.Itoa(o.Priority) + "\n")
	b.WriteString("    advert_int " + strconv.Itoa(int(o.AdvertInterval/time.Second)) + "\n")
	if o.NoPreempt {
		b.WriteString("    nopreempt\n")
	}
	if o.AuthPass != "" {
		b.WriteString("    authentication {\n        auth_type PASS\n        auth_pass " + o.AuthPass + "\n    }\n")
	}
	if o.UnicastSrcIP != "" {
		b.WriteString("    unicast_src_ip " + o.UnicastSrcIP + "\n")
	}
	if len(o.UnicastPeers) > 0 {
		b.WriteString("    unicast_peer {\n")
		for _, p := range o.UnicastPeers {
			b.WriteString("        " + p + "\n")
		}
		b.WriteString("    }\n")
	}
	b.WriteString("    virtual_ipaddress {\n")
	for _, v := range o.VirtualIPs {
		b.WriteString("        " + v + "\n")
	}
	b.WriteString("    }\n")
	b.WriteString("    track_script {\n        chk_haproxy\n    }\n")
	for _, n := range o.notifies() {
		b.WriteString("    " + n.keyword + " \"" + n.cmd + "\"\n")
	}
	b.WriteString("}\n")
	return []byte(b.String()), nil
}

// checkInterface accepts Linux interface names: 1-15 bytes of letters,
// digits and "._-@" (VLAN "eth0.100", "bond0", "enp0s3").
func checkInterface(name string) error {
	if name == "" || len(name) > 15 {
		return fieldErr("", "Interface", "%s: 1-15 bytes expected", quoteShort(name))
	}
	for _, r := range name {
		if !isAlnum(r) && !strings.ContainsRune("._-@", r) {
			return fieldErr("", "Interface", "%s: character %q not allowed", quoteShort(name), r)
		}
	}
	if name == "." || name == ".." {
		return fieldErr("", "Interface", "%s not allowed", quoteShort(name))
	}
	return nil
}

// checkToken accepts [A-Za-z0-9_-], starting with a letter or '_'.
func checkToken(field, v string, max int) error {
	if v == "" || len(v) > max {
		return fieldErr("", field, "%s: 1-%d bytes expected", quoteShort(v), max)
	}
	for i, r := range v {
		ok := isAlnum(r) || r == '_' || r == '-'
		if i == 0 {
			ok = ok && !(r >= '0' && r <= '9') && r != '-'
		}
		if !ok {
			return fieldErr("", field, "%s: character %q not allowed here", quoteShort(v), r)
		}
	}
	return nil
}

func checkIPOrCIDR(field, v string) error {
	if strings.Contains(v, "%") {
		return fieldErr("", field, "%s: zones not supported", quoteShort(v))
	}
	if strings.Contains(v, "/") {
		if _, err := netip.ParsePrefix(v); err != nil {
			return fieldErr("", field, "%s is not an IP/prefix", quoteShort(v))
		}
		return nil
	}
	if _, err := netip.ParseAddr(v); err != nil {
		return fieldErr("", field, "%s is not an IP address", quoteShort(v))
	}
	return nil
}

// checkCommand accepts an absolute program path followed by arguments,
// single spaces between tokens, each of [A-Za-z0-9/._+=:,-]: nothing that
// could close the quoted string or reach a shell.
func checkCommand(field, s string) error {
	if len(s) > 1024 {
		return fieldErr("", field, "%s: longer than 1024 bytes", quoteShort(s))
	}
	toks := strings.Split(s, " ")
	if !strings.HasPrefix(toks[0], "/") {
		return fieldErr("", field, "%s: program must be an absolute path", quoteShort(s))
	}
	for _, t := range toks {
		if t == "" {
			return fieldErr("", field, "%s: empty argument (single spaces between arguments)", quoteShort(s))
		}
		for _, r := range t {
			if !isAlnum(r) && !strings.ContainsRune("/._+=:,-", r) {
				return fieldErr("", field, "%s: character %q not allowed", quoteShort(s), r)
			}
		}
	}
	return nil
}

func wholeSeconds(field string, d time.Duration, maxSec int) error {
	if d < time.Second || d > time.Duration(maxSec)*time.Second || d%time.Second != 0 {
		return fieldErr("", field, "%v: whole seconds 1-%d expected", d, maxSec)
	}
	return nil
}
