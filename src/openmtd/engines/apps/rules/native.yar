/*
 * Rooting in Android native libraries (lib/<abi>/*.so), written for openmtd.
 *
 * Root-detection code in ordinary apps (banking apps, games) names su paths too, so neither
 * rule fires on a su path alone: one needs the name of a public root exploit, the other a su
 * command that remounts the system partition writable.
 */

private rule openmtd_is_elf
{
    condition:
        uint32(0) == 0x464c457f  // "\x7fELF"
}

rule android_native_root_exploit
{
    meta:
        description = "A native library names a public Android root exploit (Dirty COW, towelroot, iovyroot, PingPong, CVE-2019-2215 …) next to su or SELinux tampering"
        weight = 50
        severity = "high"
    strings:
        $exploit_1 = "dirtycow" nocase
        $exploit_2 = "dirty_cow" nocase
        $exploit_3 = "CVE-2016-5195"
        $exploit_4 = "towelroot" nocase
        $exploit_5 = "iovyroot" nocase
        $exploit_6 = "pingpongroot" nocase
        $exploit_7 = "CVE-2019-2215"
        $exploit_8 = "CVE-2015-3636"
        $exploit_9 = "CVE-2014-3153"
        $root_1 = "/system/xbin/su"
        $root_2 = "/system/bin/su"
        $root_3 = "/sys/fs/selinux/enforce"
        $root_4 = "setenforce 0"
    condition:
        openmtd_is_elf and any of ($exploit_*) and any of ($root_*)
}

rule android_native_su_remount
{
    meta:
        description = "A native library runs su to remount the system partition writable (persistence outside the app sandbox)"
        weight = 25
        severity = "medium"
    strings:
        $su_1 = "su -c"
        $su_2 = /\/system\/(x)?bin\/su\x00/
        $remount_1 = "mount -o remount,rw /system"
        $remount_2 = "mount -o rw,remount /system"
        $remount_3 = "mount -o remount,rw /"
    condition:
        openmtd_is_elf and any of ($su_*) and any of ($remount_*)
}
