# Removes the Attest agent's Windows service (the state in C:\ProgramData\Attest stays).
$ErrorActionPreference = "Stop"
$exe = Join-Path (Join-Path $env:ProgramFiles "Attest") "attest-agent.exe"
& $exe service uninstall
exit $LASTEXITCODE
