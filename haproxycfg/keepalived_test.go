package haproxycfg

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRenderKeepalived(t *testing.T) {
	cfg, err := RenderKeepalived(KeepalivedOptions{
		Interface:       "eth0.100",
		VirtualRouterID: 51,
		Priority:        101,
		NoPreempt:       true,
		AuthPass:        "s3cret",
		VirtualIPs:      []string{"10.0.0.100/24", "fd00::100"},
		UnicastSrcIP:    "10.0.0.1",
		UnicastPeers:    []string{"10.0.0.2"},
		ScriptUser:      "root",
		CheckScript:     "/usr/local/bin/pgha-proxy check-haproxy -socket /run/pgha/haproxy.sock -connect 127.0.0.1:5000",
		NotifyMaster:    "/etc/keepalived/notify.sh MASTER",
		Notify:          "/usr/local/bin/log-vrrp",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"vrrp_script chk_haproxy {\n    script \"/usr/local/bin/pgha-proxy check-haproxy -socket /run/pgha/haproxy.sock -connect 127.0.0.1:5000\"\n    interval 2\n    weight 2\n    fall 2\n    rise 2\n}\n",
		"vrrp_instance VI_PGHA {\n    interface eth0.100\n    state BACKUP\n    virtual_router_id 51\n    priority 101\n    advert_int 1\n    nopreempt\n",
		"    authentication {\n        auth_type PASS\n        auth_pass s3cret\n    }\n",
		"    unicast_src_ip 10.0.0.1\n    unicast_peer {\n        10.0.0.2\n    }\n",
		"    virtual_ipaddress {\n        10.0.0.100/24\n        fd00::100\n    }\n",
		"    track_script {\n        chk_haproxy\n    }\n    notify_master \"/etc/keepalived/notify.sh MASTER\"\n    notify \"/usr/local/bin/log-vrrp\"\n}\n",
		"global_defs {\n    enable_script_security\n    script_user root\n}\n",
	} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("missing %q in\n%s", want, cfg)
		}
	}
	// Braces balance: nothing can open or close a block.
	if strings.Count(string(cfg), "{") != strings.Count(string(cfg), "}") {
		t.Fatalf("unbalanced braces:\n%s", cfg)
	}
}

func TestRenderKeepalivedRejects(t *testing.T) {
	base := func() KeepalivedOptions {
		return KeepalivedOptions{Interface: "eth0", VirtualRouterID: 1, VirtualIPs: []string{"10.0.0.100"}, CheckScript: "/bin/true"}
	}
	tests := []struct {
		field string
		set   func(*KeepalivedOptions)
	}{
		{"Interface", func(o *KeepalivedOptions) { o.Interface = "" }},
		{"Interface", func(o *KeepalivedOptions) { o.Interface = "eth0 }\nvrrp_instance x {" }},
		{"Interface", func(o *KeepalivedOptions) { o.Interface = "averyveryverylongname" }},
		{"Interface", func(o *KeepalivedOptions) { o.Interface = "eth/0" }},
		{"VirtualRouterID", func(o *KeepalivedOptions) { o.VirtualRouterID = 0 }},
		{"VirtualRouterID", func(o *KeepalivedOptions) { o.VirtualRouterID = 256 }},
		{"Priority", func(o *KeepalivedOptions) { o.Priority = 255 }},
		{"State", func(o *KeepalivedOptions) { o.State = "master" }},
		{"NoPreempt", func(o *KeepalivedOptions) { o.State, o.NoPreempt = "MASTER", true }},
		{"AdvertInterval", func(o *KeepalivedOptions) { o.AdvertInterval = 1500 * time.Millisecond }},
		{"AuthPass", func(o *KeepalivedOptions) { o.AuthPass = "toolongpass" }},
		{"AuthPass", func(o *KeepalivedOptions) { o.AuthPass = "a b}" }},
		{"VirtualIPs", func(o *KeepalivedOptions) { o.VirtualIPs = nil }},
		{"VirtualIPs[0]", func(o *KeepalivedOptions) { o.VirtualIPs = []string{"10.0.0.300"} }},
		{"VirtualIPs[1]", func(o *KeepalivedOptions) { o.VirtualIPs = []string{"10.0.0.1", "10.0.0.1/24\n}"} }},
		{"VirtualIPs[0]", func(o *KeepalivedOptions) { o.VirtualIPs = []string{"fe80::1%eth0"} }},
		{"UnicastSrcIP", func(o *KeepalivedOptions) { o.UnicastSrcIP = "host" }},
		{"UnicastPeers[0]", func(o *KeepalivedOptions) { o.UnicastPeers = []string{"1.2.3.4 }"} }},
		{"CheckScript", func(o *KeepalivedOptions) { o.CheckScript = "killall -0 haproxy" }},
		{"CheckScript", func(o *KeepalivedOptions) { o.CheckScript = "/bin/sh -c \"rm -rf /\"" }},
		{"CheckScript", func(o *KeepalivedOptions) { o.CheckScript = "/bin/true; reboot" }},
		{"CheckScript", func(o *KeepalivedOptions) { o.CheckScript = "/bin/true  x" }},
		{"CheckScript", func(o *KeepalivedOptions) { o.CheckScript = "" }},
		{"CheckScript", func(o *KeepalivedOptions) { o.CheckScript = "/bin/true\"\n}\nvrrp_instance evil {" }},
		{"NotifyMaster", func(o *KeepalivedOptions) { o.NotifyMaster = "/bin/echo \"x\"" }},
		{"NotifyBackup", func(o *KeepalivedOptions) { o.NotifyBackup = "notify.sh" }},
		{"NotifyFault", func(o *KeepalivedOptions) { o.NotifyFault = "/bin/x\n}" }},
		{"NotifyStop", func(o *KeepalivedOptions) { o.NotifyStop = "/bin/x $(reboot)" }},
		{"Notify", func(o *KeepalivedOptions) { o.Notify = "/bin/x`id`" }},
		{"CheckWeight", func(o *KeepalivedOptions) { o.CheckWeight = 300 }},
		{"CheckInterval", func(o *KeepalivedOptions) { o.CheckInterval = -time.Second }},
		{"CheckTimeout", func(o *KeepalivedOptions) { o.CheckTimeout = 1500 * time.Millisecond }},
		{"InstanceName", func(o *KeepalivedOptions) { o.InstanceName = "VI 1" }},
		{"ScriptUser", func(o *KeepalivedOptions) { o.ScriptUser = "root\n}" }},
	}
	for _, tt := range tests {
		o := base()
		tt.set(&o)
		cfg, err := RenderKeepalived(o)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ErrInvalid) || cfg != nil {
			t.Errorf("%s: err = %v", tt.field, err)
		}
	}
}
