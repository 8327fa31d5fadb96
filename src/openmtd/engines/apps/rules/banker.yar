/*
 * Banking-trojan behaviours in Android code (dex files), written for openmtd.
 *
 * Every rule needs several independent pieces of evidence in the same file, so that an
 * ordinary app using one Android API (an accessibility helper, an overlay, SMS retriever,
 * screen sharing, an alternate launcher icon) does not hit.
 */

private rule openmtd_is_dex
{
    condition:
        uint32(0) == 0x0a786564  // "dex\n"
}

rule android_accessibility_overlay_injects
{
    meta:
        description = "Code reads other apps' screens through accessibility events, asks for the overlay permission and handles overlay 'injects' (fake login screens) as banking trojans do"
        weight = 45
        severity = "high"
    strings:
        $a11y_1 = "getRootInActiveWindow"
        $a11y_2 = "Landroid/view/accessibility/AccessibilityNodeInfo;"
        $a11y_3 = "performGlobalAction"
        $a11y_4 = "Landroid/view/accessibility/AccessibilityEvent;"
        $overlay_1 = "android.settings.action.MANAGE_OVERLAY_PERMISSION"
        $overlay_2 = "canDrawOverlays"
        $inject_1 = "injects" nocase
        $inject_2 = "inject_list" nocase
        $inject_3 = "html_inject" nocase
        $inject_4 = "startInjection" nocase
        $inject_5 = "webinject" nocase
        $inject_6 = "overlay_html" nocase
    condition:
        openmtd_is_dex and 2 of ($a11y_*) and any of ($overlay_*) and any of ($inject_*)
}

rule android_sms_intercept_exfil
{
    meta:
        description = "Code reads incoming SMS bodies and posts them to a bot-panel gate or a Telegram bot, the way banking trojans steal one-time codes"
        weight = 40
        severity = "medium"
    strings:
        $sms_1 = "android.provider.Telephony.SMS_RECEIVED"
        $sms_2 = "createFromPdu"
        $body_1 = "getMessageBody"
        $body_2 = "getDisplayMessageBody"
        $exfil_1 = "api.telegram.org/bot"
        $exfil_2 = /\/gate\.php\b/
        $exfil_3 = /\/(sms|inbox|otp)_?(log|upload|save)?\.php\b/
    condition:
        openmtd_is_dex and any of ($sms_*) and any of ($body_*) and any of ($exfil_*)
}

rule android_remote_screen_control
{
    meta:
        description = "Code streams the screen with MediaProjection and replays remote taps through accessibility gestures under VNC-style bot commands (hidden remote control of the device)"
        weight = 35
        severity = "medium"
    strings:
        $capture_1 = "createVirtualDisplay"
        $capture_2 = "Landroid/media/projection/MediaProjection;"
        $gesture = "dispatchGesture"
        $cmd_1 = "start_vnc" nocase
        $cmd_2 = "startVNC" nocase
        $cmd_3 = "hvnc" nocase fullword
        $cmd_4 = "vnc_start" nocase
        $cmd_5 = "start_hvnc" nocase
        $cmd_6 = "screen_stream" nocase
    condition:
        openmtd_is_dex and all of ($capture_*) and $gesture and any of ($cmd_*)
}

rule android_hide_launcher_icon
{
    meta:
        description = "Code removes its own launcher icon at run time (setComponentEnabledSetting with COMPONENT_ENABLED_STATE_DISABLED on a hide-icon path), so the victim cannot find the app"
        weight = 20
        severity = "medium"
    strings:
        $api = "setComponentEnabledSetting"
        $state = "COMPONENT_ENABLED_STATE_DISABLED"
        $hide_1 = "hideIcon" nocase
        $hide_2 = "hide_icon" nocase
        $hide_3 = "hideAppIcon" nocase
        $hide_4 = "hide_app_icon" nocase
        $hide_5 = "hideLauncher" nocase
        $launcher = "android.intent.category.LAUNCHER"
    condition:
        openmtd_is_dex and $api and ($state or $launcher) and any of ($hide_*)
}
