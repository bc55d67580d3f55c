// A real OpenID provider for tokend's console sign-on tests: the npm package
// oidc-provider (OpenID Certified), with one confidential client (tokend) and a few
// staff members whose claims carry a role and an institution.
//
// The test drives it over HTTP, like a browser: the interaction step signs in the
// account named by `login_hint` (no login form to scrape) with amr ["pwd", "mfa"].
// `POST /__mode` with {"mode": ...} makes the token endpoint hand out a wrong ID token,
// so the test can show tokend refuses each: "tamper" (a payload byte changed, the
// signature no longer matches), "expired" and "audience" (re-signed with the provider's
// own key, so only that claim is wrong). "normal" restores it.
//
// Environment: PORT, REDIRECT_URI, CLIENT_ID, CLIENT_SECRET. Prints "listening" once up.

import http from 'node:http';
import Provider from 'oidc-provider';
import { generateKeyPair, exportJWK, SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = {
  ada: { roles: ['it_admins'], inst: '*' },
  hal: { roles: ['helpdesk'], inst: 'tokend' },
  bo: { roles: ['helpdesk', 'staff'], inst: '021000021' },
  eve: { roles: ['marketing'], inst: 'tokend' },
};

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  jwks: { keys: [jwk] },
  claims: { openid: ['sub'], profile: ['preferred_username', 'roles', 'inst'] },
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  pkce: { required: () => true },
  async findAccount(ctx, id) {
    const who = accounts[id];
    if (!who) return undefined;
    return {
      accountId: id,
      async claims() { return { sub: id, preferred_username: id, roles: who.roles, inst: who.inst }; },
    };
  },
});

let mode = 'normal';

async function rewrite(idToken) {
  if (mode === 'tamper') {
    const [h, p, s] = idToken.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    claims.roles = ['it_admins'];
    return [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), s].join('.');
  }
  const claims = decodeJwt(idToken);
  const header = decodeProtectedHeader(idToken);
  if (mode === 'expired') {
    claims.iat = Math.floor(Date.now() / 1000) - 7200;
    claims.exp = Math.floor(Date.now() / 1000) - 3600;
  }
  if (mode === 'audience') claims.aud = 'someone-else';
  return new SignJWT(claims).setProtectedHeader(header).sign(privateKey);
}

provider.use(async (ctx, next) => {
  const m = ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (m) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const accountId = details.params.login_hint || 'ada';
    const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    grant.addOIDCClaims(['preferred_username', 'roles', 'inst']);
    const grantId = await grant.save();
    const result = {
      login: { accountId, amr: ['pwd', 'mfa'] },
      consent: { grantId },
    };
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false }));
    return;
  }
  await next();
  if (ctx.path === '/token' && mode !== 'normal' && ctx.body && ctx.body.id_token) {
    ctx.body = { ...ctx.body, id_token: await rewrite(ctx.body.id_token) };
  }
});

const app = provider.callback();
http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/__mode') {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      mode = JSON.parse(body).mode;
      res.writeHead(204).end();
    });
    return;
  }
  app(req, res);
}).listen(port, '127.0.0.1', () => console.log('listening'));
