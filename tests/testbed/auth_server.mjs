// auth_server.mjs: a real OAuth 2.1 authorization server (oidc-provider) and
// an MCP server protected by it, on loopback, for toolgate's OAuth tests.
//
// Run:  . target/testbed/env.sh; $TESTBED_NODE22 tests/testbed/auth_server.mjs
// Needs the test bed's npm packages (oidc-provider, express, jose,
// @modelcontextprotocol/sdk), found in $TESTBED_NODE_MODULES, else
// $TOOLGATE_TESTBED/npm/node_modules, else <repo>/target/testbed/npm/node_modules.
//
// Two listeners on 127.0.0.1, ports chosen by the OS:
//   AS  http://127.0.0.1:Q   issuer; also /interaction/:uid and /admin/*
//   RS  http://127.0.0.1:P   the MCP server at /mcp
// Once both listen it prints ONE line of JSON on stdout, then nothing more
// (all logging goes to stderr):
//   {"issuer":"http://127.0.0.1:Q","mcp_url":"http://127.0.0.1:P/mcp",
//    "admin":"http://127.0.0.1:Q/admin","pid":N}
// It exits (status 0) on SIGTERM/SIGINT, and when its stdin is a pipe or a
// socket and reaches EOF (a TTY or /dev/null stdin is not watched).
//
// Environment knobs:
//   AUTH_ACCESS_TTL=S      access token lifetime in seconds (default 3600)
//   AUTH_REFRESH_TTL=S     refresh token lifetime in seconds (default 86400);
//                          each rotation issues a new one with a fresh TTL
//   AUTH_NO_PKCE=1         the AS metadata (both well-knowns) omits
//                          code_challenge_methods_supported; the server itself
//                          still requires PKCE. A client must refuse this AS.
//   AUTH_WRONG_ISSUER=1    the AS metadata (both well-knowns) says
//                          "issuer": "<issuer>/wrong-issuer", which does not
//                          match the URL it was fetched for. A client must
//                          refuse this AS. (Tokens and the `iss` authorization
//                          response parameter keep the real issuer.)
//   AUTH_OPEN=1            the MCP server accepts every request, with or
//                          without a token, and ignores Authorization (for
//                          benchmarks of what attaching a token costs)
//   AUTH_DEFAULT_SCOPE=S   scope="S" in the 401 challenge (default "mcp:read");
//                          set it empty to leave the scope parameter out
//
// Authorization server (oidc-provider 9.13):
//   metadata  /.well-known/openid-configuration and (RFC 8414, same document)
//             /.well-known/oauth-authorization-server
//   endpoints /authorize /token /register (RFC 7591, open: no initial access
//             token) /revoke (RFC 7009) /jwks /userinfo
//   - PKCE S256 required for every client; `plain` is rejected.
//   - Authorization responses carry `iss` (RFC 9207), errors included.
//   - application_type "native" clients with http://127.0.0.1:<port>/... (or
//     localhost, [::1]) redirect URIs may use any port at authorization time
//     (RFC 8252 7.3): register http://127.0.0.1:1234/callback, redirect to
//     http://127.0.0.1:5678/callback. "web" clients (the RFC 7591 default
//     application_type) must match exactly.
//   - Resource indicators (RFC 8707): the only known resource is the MCP URL,
//     exactly (no trailing slash); anything else is invalid_target. Access
//     tokens for it are JWTs (typ at+jwt, RS256) with aud = the MCP URL,
//     scope = the granted mcp:* scopes, sub "alice", client_id, jti. When the
//     token or refresh request leaves `resource` out, the resource granted at
//     authorization is used. Without any resource the access token is opaque
//     and useless at the MCP server.
//   - Scopes: openid offline_access mcp:read mcp:write.
//   - Refresh tokens are issued to every client registered with the
//     refresh_token grant type (offline_access not needed; RFC 7591's default
//     grant_types is ["authorization_code"] only, so such a client gets none).
//     Rotation is always on: each refresh returns a new refresh token and
//     consumes the old one; presenting a consumed one fails with
//     invalid_grant AND revokes the whole grant (its newer refresh token and
//     its access tokens too).
//   - Login and consent happen without a human: /interaction/:uid logs in
//     account "alice" and grants every requested scope and resource, then
//     redirects back, so `curl -s -L -c jar -b jar -o /dev/null "$AUTH_URL"`
//     ends at the client's redirect URI with code, state and iss.
//   - DPoP and pushed authorization requests are off (plain Bearer only).
//   Quirks a client meets here (all real oidc-provider behaviour):
//   - /token and /revoke take application/x-www-form-urlencoded only (JSON is
//     invalid_request). A public client (token_endpoint_auth_method "none")
//     sends client_id in the body and no Authorization header.
//   - The code exchange needs the exact redirect_uri of the authorization
//     request (same port); omitting it means the registered one.
//   - `resource` must be on the authorization request; a resource first
//     named at the token endpoint is invalid_target.
//   - A refresh that fails after the token was looked up (e.g. a wrong
//     `resource`: invalid_target) has already consumed the refresh token; a
//     retry with it counts as reuse and revokes the grant.
//   - A refresh can narrow `scope` but not widen it (invalid_scope): step-up
//     needs a new authorization request.
//   - offline_access is dropped unless the client has the refresh_token grant,
//     and when `prompt` is present without `consent`. It never shows in the
//     token response's scope (only mcp:* scopes of the resource do).
//   - Native clients always get the consent step (done automatically here);
//     prompt=none therefore fails with interaction_required.
//   - JWT access tokens cannot be revoked at /revoke (400
//     unsupported_token_type, allowed by RFC 7009); revoking the refresh
//     token revokes the grant, and the MCP server then rejects the grant's
//     access tokens too. Unknown tokens: 200.
//   - invalid_grant's error_description is always "grant request is
//     invalid"; the reason is on this process's stderr.
//
// MCP server (@modelcontextprotocol/sdk, streamable HTTP, stateless, JSON
// responses; GET and DELETE /mcp answer 405 once authorized):
//   - /.well-known/oauth-protected-resource/mcp (RFC 9728): resource = the MCP
//     URL, authorization_servers = [issuer], scopes_supported
//     ["mcp:read","mcp:write"], bearer_methods_supported ["header"].
//   - No Authorization header: 401, WWW-Authenticate:
//       Bearer resource_metadata="<P>/.well-known/oauth-protected-resource/mcp", scope="mcp:read"
//   - A bad token (signature against the AS JWKS, iss, aud = MCP URL, exp,
//     typ; or revoked/expired through /admin or RFC 7009; or its grant
//     revoked): 401, WWW-Authenticate:
//       Bearer error="invalid_token", error_description="...", resource_metadata="...", scope="..."
//   - A good token without mcp:read: 403 error="insufficient_scope", scope="mcp:read".
//   - tools/call admin_op with a token without mcp:write: 403, WWW-Authenticate:
//       Bearer error="insufficient_scope", scope="mcp:read mcp:write", resource_metadata="...", error_description="..."
//   - Tools: whoami -> text JSON {"sub","scope","aud","client_id"} of the
//     token; admin_op -> text "admin_op done" (needs mcp:write).
//
// Admin endpoints on the AS (no auth, loopback only):
//   GET  /admin/stats   JSON counters:
//          authorize      requests to /authorize (any outcome)
//          token_code     token requests with grant_type=authorization_code (any outcome)
//          token_refresh  token requests with grant_type=refresh_token (any outcome)
//          token_errors   token requests answered with an error
//          registrations  successful client registrations
//          revocations    requests to /revoke (any outcome)
//          mcp_401 mcp_403 mcp_ok   MCP requests rejected 401 / rejected 403 /
//                         let through to the MCP server
//   POST /admin/revoke-all     every access token issued so far is rejected by
//          the MCP server (401 invalid_token) and every refresh token and grant
//          so far is destroyed (refresh -> invalid_grant). Later
//          authorizations work normally.
//   POST /admin/expire-access  every access token issued so far is rejected
//          by the MCP server (401 invalid_token, "token expired"); refresh
//          tokens keep working.
//   Both answer {"ok":true,"access_tokens":N,...}.

import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// oidc-provider prints notices with console.info, which goes to stdout: keep
// stdout for the one JSON line.
console.log = console.info = console.debug = (...args) => console.error(...args);
const log = (...args) => console.error('[auth_server]', ...args);

// ---- configuration -----------------------------------------------------------
function intEnv(name, dflt) {
    const raw = process.env[name];
    if (raw === undefined || raw === '') return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0) {
        log(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
        process.exit(2);
    }
    return n;
}
const ACCESS_TTL = intEnv('AUTH_ACCESS_TTL', 3600);
const REFRESH_TTL = intEnv('AUTH_REFRESH_TTL', 86400);
const NO_PKCE = process.env.AUTH_NO_PKCE === '1';
const WRONG_ISSUER = process.env.AUTH_WRONG_ISSUER === '1';
const DEFAULT_SCOPE = process.env.AUTH_DEFAULT_SCOPE ?? 'mcp:read';
const OPEN = process.env.AUTH_OPEN === '1';
const ACCOUNT = 'alice';
const RESOURCE_SCOPES = ['mcp:read', 'mcp:write'];

// ---- module loading from the test bed ---------------------------------------
const here = path.dirname(fileURLToPath(import.meta.url));
const nodeModules = process.env.TESTBED_NODE_MODULES
    || (process.env.TOOLGATE_TESTBED && path.join(process.env.TOOLGATE_TESTBED, 'npm', 'node_modules'))
    || path.resolve(here, '..', '..', 'target', 'testbed', 'npm', 'node_modules');
const requireTb = createRequire(path.join(nodeModules, '..', 'package.json'));
const load = (spec) => import(pathToFileURL(requireTb.resolve(spec)).href);
const loadSdk = (sub) => import(pathToFileURL(path.join(nodeModules, '@modelcontextprotocol', 'sdk', 'dist', 'esm', sub)).href);

const { default: Provider, errors: oidcErrors } = await load('oidc-provider');
const { default: express } = await load('express');
const jose = await load('jose');
const { McpServer } = await loadSdk('server/mcp.js');
const { StreamableHTTPServerTransport } = await loadSdk('server/streamableHttp.js');

// ---- listeners first: the issuer and resource URLs contain the ports --------
function listen(server) {
    return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server.address().port));
    });
}
let asHandler = (_req, res) => { res.statusCode = 503; res.end(); };
let rsHandler = asHandler;
const asServer = http.createServer((req, res) => asHandler(req, res));
const rsServer = http.createServer((req, res) => rsHandler(req, res));
const asPort = await listen(asServer);
const rsPort = await listen(rsServer);

const ISSUER = `http://127.0.0.1:${asPort}`;
const RS_BASE = `http://127.0.0.1:${rsPort}`;
const MCP_URL = `${RS_BASE}/mcp`;
const PRM_URL = `${RS_BASE}/.well-known/oauth-protected-resource/mcp`;

// ---- state for counters and the admin knobs ---------------------------------
const stats = {
    authorize: 0,
    token_code: 0,
    token_refresh: 0,
    token_errors: 0,
    registrations: 0,
    revocations: 0,
    mcp_401: 0,
    mcp_open_with_token: 0,
    mcp_403: 0,
    mcp_ok: 0,
};
const accessTokens = new Map(); // jti -> grantId, every JWT access token issued
const refreshTokens = new Set(); // jti of every refresh token saved
const grants = new Set(); // every grant id saved
const revokedJtis = new Set(); // access tokens killed by /admin/revoke-all
const expiredJtis = new Set(); // access tokens killed by /admin/expire-access
const revokedGrants = new Set(); // grants revoked (RFC 7009, refresh token reuse, revoke-all)

// ---- the authorization server -------------------------------------------------
const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(privateKey)), kid: 'toolgate-test-rs256', alg: 'RS256', use: 'sig' };

const provider = new Provider(ISSUER, {
    jwks: { keys: [signingJwk] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    routes: {
        authorization: '/authorize',
        token: '/token',
        registration: '/register',
        revocation: '/revoke',
        jwks: '/jwks',
        userinfo: '/userinfo',
    },
    responseTypes: ['code'],
    scopes: ['openid', 'offline_access', ...RESOURCE_SCOPES],
    claims: { openid: ['sub'] },
    async findAccount(_ctx, sub) {
        return { accountId: sub, async claims() { return { sub }; } };
    },
    pkce: { required: () => true },
    clientDefaults: {
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'RS256',
    },
    features: {
        devInteractions: { enabled: false },
        registration: { enabled: true, initialAccessToken: false },
        // A client may revoke only its own tokens (silently ignored otherwise).
        revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
        introspection: { enabled: false },
        dPoP: { enabled: false },
        pushedAuthorizationRequests: { enabled: false },
        rpInitiatedLogout: { enabled: false },
        resourceIndicators: {
            enabled: true,
            defaultResource: async (_ctx, _client, oneOf) => oneOf,
            useGrantedResource: async () => true,
            getResourceServerInfo: async (_ctx, resourceIndicator) => {
                if (resourceIndicator !== MCP_URL) {
                    throw new oidcErrors.InvalidTarget(`unknown resource ${resourceIndicator}; the only resource is ${MCP_URL}`);
                }
                return {
                    scope: RESOURCE_SCOPES.join(' '),
                    audience: MCP_URL,
                    accessTokenTTL: ACCESS_TTL,
                    accessTokenFormat: 'jwt',
                    jwt: { sign: { alg: 'RS256' } },
                };
            },
        },
    },
    // Refresh tokens for every client allowed the refresh_token grant, with or
    // without offline_access; always rotated; not tied to the login session.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    expiresWithSession: async () => false,
    ttl: {
        AccessToken: ACCESS_TTL,
        AuthorizationCode: 300,
        IdToken: 3600,
        Interaction: 600,
        Session: 86400,
        Grant: Math.max(REFRESH_TTL, 86400) * 2,
        RefreshToken: REFRESH_TTL,
    },
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
    renderError: async (ctx, out, error) => {
        ctx.type = 'json';
        ctx.body = out;
        log('rendered error', error?.message ?? out);
    },
});

provider.on('access_token.issued', (token) => { accessTokens.set(token.jti, token.grantId); });
provider.on('refresh_token.saved', (token) => { refreshTokens.add(token.jti); });
provider.on('grant.saved', (grant) => { grants.add(grant.jti); });
provider.on('grant.revoked', (_ctx, grantId) => { revokedGrants.add(grantId); log('grant revoked', grantId); });
provider.on('registration_create.success', () => { stats.registrations += 1; });
for (const ev of ['server_error', 'authorization.error', 'grant.error', 'registration_create.error', 'revocation.error', 'userinfo.error', 'discovery.error']) {
    provider.on(ev, (_ctx, err) => log(ev, err?.message, err?.error_description ?? '', err?.error_detail ? `(${err.error_detail})` : ''));
}

// Counters, the RFC 8414 alias, the metadata knobs, the auto-consent and the
// admin endpoints, all as Koa middleware in front of the provider's routes.
provider.use(async (ctx, next) => {
    const p = ctx.path;

    if (p.startsWith('/admin/') || p === '/admin') {
        return admin(ctx);
    }
    if (p.startsWith('/interaction/')) {
        return interaction(ctx);
    }
    if (p === '/.well-known/oauth-authorization-server') {
        ctx.path = '/.well-known/openid-configuration';
    }
    if (p === '/authorize') stats.authorize += 1;
    if (p === '/revoke') stats.revocations += 1;

    await next();

    if (ctx.path === '/.well-known/openid-configuration' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
        const doc = { ...ctx.body };
        if (NO_PKCE) delete doc.code_challenge_methods_supported;
        if (WRONG_ISSUER) doc.issuer = `${ISSUER}/wrong-issuer`;
        ctx.body = doc;
    }
    if (p === '/token' && ctx.method === 'POST') {
        const gt = ctx.oidc?.params?.grant_type;
        if (gt === 'authorization_code') stats.token_code += 1;
        else if (gt === 'refresh_token') stats.token_refresh += 1;
        if (ctx.status >= 400) stats.token_errors += 1;
    }
});

async function interaction(ctx) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const { prompt, params, session, grantId, uid } = details;
    let result;
    if (prompt.name === 'login') {
        result = { login: { accountId: ACCOUNT } };
    } else if (prompt.name === 'consent') {
        const grant = grantId
            ? await provider.Grant.find(grantId)
            : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
        const d = prompt.details;
        if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
        if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
        if (d.missingResourceScopes) {
            for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
                grant.addResourceScope(indicator, scopes.join(' '));
            }
        }
        result = { consent: { grantId: await grant.save() } };
    } else {
        result = { error: 'access_denied', error_description: `unexpected prompt ${prompt.name}` };
    }
    log(`interaction ${uid}: ${prompt.name} (${prompt.reasons.join(",")}) -> ${Object.keys(result)[0]}`);
    // Merged with the login result of this authorization request, so that
    // prompt=login is satisfied after the consent step too.
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.redirect(returnTo);
}

async function admin(ctx) {
    ctx.set('Cache-Control', 'no-store');
    if (ctx.method === 'GET' && ctx.path === '/admin/stats') {
        ctx.body = { ...stats };
        return;
    }
    if (ctx.method === 'POST' && ctx.path === '/admin/revoke-all') {
        for (const jti of accessTokens.keys()) revokedJtis.add(jti);
        for (const jti of refreshTokens) await provider.RefreshToken.adapter.destroy(jti);
        for (const gid of grants) {
            revokedGrants.add(gid);
            await provider.Grant.adapter.destroy(gid);
        }
        ctx.body = { ok: true, access_tokens: accessTokens.size, refresh_tokens: refreshTokens.size, grants: grants.size };
        log('admin: revoke-all', JSON.stringify(ctx.body));
        return;
    }
    if (ctx.method === 'POST' && ctx.path === '/admin/expire-access') {
        for (const jti of accessTokens.keys()) expiredJtis.add(jti);
        ctx.body = { ok: true, access_tokens: accessTokens.size };
        log('admin: expire-access', JSON.stringify(ctx.body));
        return;
    }
    ctx.status = 404;
    ctx.body = { error: 'not_found', endpoints: ['GET /admin/stats', 'POST /admin/revoke-all', 'POST /admin/expire-access'] };
}

asHandler = provider.callback();

// ---- the protected MCP server ---------------------------------------------------
const jwks = jose.createRemoteJWKSet(new URL(`${ISSUER}/jwks`));

const q = (s) => String(s).replace(/[\\"]/g, "'");
function challenge(fields) {
    return 'Bearer ' + Object.entries(fields)
        .filter(([, v]) => v !== undefined && v !== '')
        .map(([k, v]) => `${k}="${q(v)}"`)
        .join(', ');
}

function reject(res, status, fields, body) {
    if (status === 401) stats.mcp_401 += 1;
    else stats.mcp_403 += 1;
    res.set('WWW-Authenticate', challenge(fields));
    res.status(status).json(body);
}

function callsAdminOp(body) {
    const msgs = Array.isArray(body) ? body : [body];
    return msgs.some((m) => m && typeof m === 'object' && m.method === 'tools/call' && m.params?.name === 'admin_op');
}

async function bearerAuth(req, res, next) {
    if (OPEN) {
        // Benchmarks: the MCP server ignores Authorization altogether (it
        // only counts the requests that carried one).
        stats.mcp_ok += 1;
        if (req.headers.authorization) stats.mcp_open_with_token += 1;
        return next();
    }
    const header = req.headers.authorization;
    if (!header) {
        return reject(res, 401, { resource_metadata: PRM_URL, scope: DEFAULT_SCOPE },
            { error: 'unauthorized', error_description: 'bearer token required' });
    }
    const invalid = (why) => reject(res, 401,
        { error: 'invalid_token', error_description: why, resource_metadata: PRM_URL, scope: DEFAULT_SCOPE },
        { error: 'invalid_token', error_description: why });
    const m = /^Bearer +([^ ]+) *$/i.exec(header);
    if (!m) return invalid('expected Authorization: Bearer <token>');
    let claims;
    try {
        ({ payload: claims } = await jose.jwtVerify(m[1], jwks, {
            issuer: ISSUER,
            audience: MCP_URL,
            typ: 'at+jwt',
            algorithms: ['RS256'],
            requiredClaims: ['exp', 'jti', 'sub'],
        }));
    } catch (e) {
        if (e instanceof jose.errors.JWTExpired) return invalid('token expired');
        return invalid(`token rejected: ${e.code ?? ''} ${e.message}`);
    }
    if (revokedJtis.has(claims.jti)) return invalid('token revoked');
    const grantId = accessTokens.get(claims.jti);
    if (grantId !== undefined && revokedGrants.has(grantId)) return invalid('token revoked (grant revoked)');
    if (expiredJtis.has(claims.jti)) return invalid('token expired');

    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
    if (!scopes.includes('mcp:read')) {
        return reject(res, 403,
            { error: 'insufficient_scope', scope: 'mcp:read', resource_metadata: PRM_URL, error_description: 'mcp:read required' },
            { error: 'insufficient_scope', error_description: 'mcp:read required' });
    }
    if (req.method === 'POST' && callsAdminOp(req.body) && !scopes.includes('mcp:write')) {
        return reject(res, 403,
            { error: 'insufficient_scope', scope: 'mcp:read mcp:write', resource_metadata: PRM_URL, error_description: 'admin_op requires mcp:write' },
            { error: 'insufficient_scope', error_description: 'admin_op requires mcp:write' });
    }
    stats.mcp_ok += 1;
    req.auth = {
        token: m[1],
        clientId: claims.client_id,
        scopes,
        expiresAt: claims.exp,
        resource: new URL(MCP_URL),
        extra: { claims },
    };
    return next();
}

function buildMcpServer() {
    const server = new McpServer({ name: 'toolgate-auth-testbed', version: '1.0.0' });
    server.registerTool('whoami', {
        description: 'Returns the subject, scope and audience of the access token used for this call.',
    }, async (extra) => {
        const c = extra.authInfo?.extra?.claims ?? {};
        const text = JSON.stringify({ sub: c.sub, scope: c.scope ?? '', aud: c.aud, client_id: c.client_id });
        return { content: [{ type: 'text', text }] };
    });
    server.registerTool('admin_op', {
        description: 'A privileged operation; needs scope mcp:write.',
    }, async (extra) => {
        if (!extra.authInfo?.scopes?.includes('mcp:write')) {
            return { isError: true, content: [{ type: 'text', text: 'mcp:write required' }] };
        }
        return { content: [{ type: 'text', text: 'admin_op done' }] };
    });
    return server;
}

const app = express();
app.disable('x-powered-by');
app.get('/.well-known/oauth-protected-resource/mcp', (_req, res) => {
    res.set('Cache-Control', 'no-store');
    res.json({
        resource: MCP_URL,
        authorization_servers: [ISSUER],
        scopes_supported: RESOURCE_SCOPES,
        bearer_methods_supported: ['header'],
        resource_name: 'toolgate auth testbed MCP server',
    });
});
app.all('/mcp', express.json({ limit: '4mb' }), bearerAuth, async (req, res) => {
    if (req.method !== 'POST') {
        res.set('Allow', 'POST');
        res.status(405).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed (stateless server).' }, id: null });
        return;
    }
    const server = buildMcpServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => { transport.close(); server.close(); });
    try {
        await server.connect(transport);
        await transport.handleRequest(req, res, req.body);
    } catch (e) {
        log('mcp error', e);
        if (!res.headersSent) {
            res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null });
        }
    }
});
app.use((err, _req, res, _next) => {
    // Malformed JSON bodies and the like.
    log('rs error', err?.message);
    if (!res.headersSent) res.status(err?.status ?? 500).json({ jsonrpc: '2.0', error: { code: -32700, message: String(err?.message) }, id: null });
});
rsHandler = app;

// ---- ready, and shutdown --------------------------------------------------------
process.stdout.write(JSON.stringify({ issuer: ISSUER, mcp_url: MCP_URL, admin: `${ISSUER}/admin`, pid: process.pid }) + '\n');
log(`issuer ${ISSUER}, MCP ${MCP_URL}, access TTL ${ACCESS_TTL}s, refresh TTL ${REFRESH_TTL}s`
    + `${NO_PKCE ? ', AUTH_NO_PKCE' : ''}${WRONG_ISSUER ? ', AUTH_WRONG_ISSUER' : ''}, 401 scope ${JSON.stringify(DEFAULT_SCOPE)}`);

let stopping = false;
function shutdown(why) {
    if (stopping) return;
    stopping = true;
    log(`stopping: ${why}`);
    for (const s of [asServer, rsServer]) {
        s.close();
        s.closeAllConnections();
    }
    setTimeout(() => process.exit(0), 200).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
try {
    const st = fs.fstatSync(0);
    if (st.isFIFO() || st.isSocket()) {
        process.stdin.on('end', () => shutdown('stdin closed'));
        process.stdin.on('close', () => shutdown('stdin closed'));
        process.stdin.on('error', () => shutdown('stdin error'));
        process.stdin.resume();
    }
} catch {
    // no stdin at all: rely on signals
}
