/*
 * Stalkerware vendors' own code in Android dex files, written for openmtd.
 *
 * The class-name prefixes are the package names that the Echap stalkerware-indicators list
 * (ioc.yaml, CC-BY-4.0, https://github.com/AssoEchap/stalkerware-indicators) gives for these
 * products, in dex type-descriptor form ("Lcom/vendor/…"). Only names distinctive of a spying
 * product are used; generic ones from the list (com.android.core…, com.system…, update.service…)
 * are left out because ordinary apps could use them. A descriptor appears in a dex only when
 * that code is compiled in or referenced, not when an app merely lists the package name.
 */

private rule openmtd_is_dex
{
    condition:
        uint32(0) == 0x0a786564  // "dex\n"
}

rule android_stalkerware_vendor_code
{
    meta:
        description = "The app contains classes of a known stalkerware product (mSpy, FlexiSpy, TheTruthSpy, Cocospy/Spyic, HelloSpy, LetMeSpy, Reptilicus, XNSpy, Spy24 …)"
        weight = 45
        severity = "high"
    strings:
        $mspy_1 = "Lcom/mspy/"
        $mspy_2 = "Lmed/mspy/"
        $flexispy = "Lcom/vvt/android/syncmanager/"
        $truthspy_1 = "Lcom/thetruth/"
        $truthspy_2 = "Lcom/ispyoo/"
        $truthspy_3 = "Lcom/mxspy/"
        $truthspy_4 = "Lcom/spyzee/"
        $cocospy_1 = "Lcom/cocospy/"
        $cocospy_2 = "Lcom/duiyun/cocospy"
        $cocospy_3 = "Lcom/duiyun/spy"
        $cocospy_4 = "Lcom/spyic/"
        $cocospy_5 = "Lcom/minspy/"
        $cocospy_6 = "Lcom/sc/cocospy/"
        $hellospy_1 = "Lcom/hellospy/"
        $hellospy_2 = "Lcom/maxxspy/"
        $hellospy_3 = "Lcom/topspy/"
        $hellospy_4 = "Lcom/mobiispy/"
        $letmespy = "Lpl/lidwin/letmespy"
        $reptilicus = "Lnet/reptilicus/"
        $ownspy = "Lcom/ownspy/"
        $phonesheriff = "Lcom/retina/phonesheriff/"
        $xnspy = "Lcom/xnspy/"
        $panspy = "Lcom/panspy/"
        $spyhuman = "Lcom/spyhumanrev/"
        $spy24_1 = "Lir/spy24/"
        $spy24_2 = "Lapp/spy24/"
        $spy24_3 = "Lnet/spy24/"
        $spytoapp = "Lcom/spytoapp/"
        $spyapp247 = "Lcom/spyapp247/"
        $wtspy = "Lcom/wtspy/"
        $meuspy = "Lcom/meuspy/"
        $mobiletrackerfree = "Lcom/mobiletrackerfree/"
        $trackmyphones = "Lcom/trackmyphones/"
        $alltracker = "Lcity/russ/alltracker"
        $catwatchful = "Lwosc/cwf"
        $spymie = "Lcom/ant/spymie/"
    condition:
        openmtd_is_dex and any of them
}
