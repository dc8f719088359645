/* bcryptprimitives.dll for Wine 8.0, which lacks it: Rust's std on windows-gnu
 * imports ProcessPrng from it for its random numbers (HashMap keys).
 * ProcessPrng is RtlGenRandom (advapi32's SystemFunction036) under another name.
 * Built by scripts/wine-collect.sh with MinGW; never shipped. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
