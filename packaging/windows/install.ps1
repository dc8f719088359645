# Installs the Attest agent as a Windows service (docs/agent.md).
#
#   .\install.ps1 -Binary .\attest-agent.exe -Server https://collector.example:8443 -Token TOKEN -Pin PIN
#
# Run from an elevated PowerShell. Copies the binary to Program Files, creates
# C:\ProgramData\Attest (Administrators and SYSTEM only), enrolls, and registers and
# starts the service through `attest-agent service install`.
param(
    [Parameter(Mandatory = $true)] [string] $Binary,
    [string] $Server,
    [string] $Token,
    [string] $Pin
)
$ErrorActionPreference = "Stop"

$bin = Join-Path $env:ProgramFiles "Attest"
$data = Join-Path $env:ProgramData "Attest"
$state = Join-Path $data "state"
$config = Join-Path $data "agent.toml"
$exe = Join-Path $bin "attest-agent.exe"

New-Item -ItemType Directory -Force -Path $bin, $data, $state | Out-Null
# Only SYSTEM and Administrators may read the key, the state and the config.
icacls $data /inheritance:r /grant:r "SYSTEM:(OI)(CI)F" "Administrators:(OI)(CI)F" | Out-Null
Copy-Item -Force $Binary $exe
if (-not (Test-Path $config)) {
    Copy-Item (Join-Path $PSScriptRoot "..\agent.toml") $config
}
& $exe validate --config $config --state-dir $state
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }

if ($Server -and $Token -and $Pin -and -not (Test-Path (Join-Path $state "enrollment.json"))) {
    & $exe enroll --server $Server --token $Token --pin $Pin --config $config --state-dir $state
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

& $exe service install --config $config --state-dir $state
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
Start-Service attest-agent
Write-Host "attest-agent installed and started; status: & '$exe' status --state-dir '$state'"
