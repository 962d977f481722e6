// Build configuration of the Chorus library: the export macro for the public surface.
#pragma once

#if defined(CHORUS_SHARED)
#if defined(CHORUS_BUILDING_LIBRARY)
#define CHORUS_API __attribute__((visibility("default")))
#else
#define CHORUS_API
#endif
#else
// Static builds (the default) are linked whole into programs and modules; nothing to export.
#define CHORUS_API __attribute__((visibility("default")))
#endif

namespace chorus {
/// The library version, as "major.minor.patch".
inline constexpr const char* version = "0.1.0";
}  // namespace chorus
