// The lab needs Linux: loop devices, debugfs, mkfs.ext4, setsid.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
