// A real OpenID Provider for the tests: panva's oidc-provider (OpenID Certified), with its
// own development login form (any password is accepted there: the provider's own code, not
// ours). One confidential client, PKCE required, RP-initiated logout on, and test users
// whose ID token carries a `groups` claim, as Entra ID, AD FS and Keycloak send one.
//
//   node provider.mjs   (settings in the environment, see below)
//
// It listens on a free loopback port and prints one line of JSON, {"issuer": "http://..."},
// once it is ready; it stops when its standard input closes (the test process ended) or on
// SIGTERM.
import http from 'node:http';
import crypto from 'node:crypto';

import Provider from 'oidc-provider';

const need = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`provider.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
};
const clientId = need('OIDC_CLIENT_ID');
const clientSecret = need('OIDC_CLIENT_SECRET');
const redirectUri = need('OIDC_REDIRECT_URI');
const postLogoutRedirectUri = need('OIDC_POST_LOGOUT_REDIRECT_URI');

// Login name -> groups. Any other name gets no groups at all.
const GROUPS = {
  anne: ['postvagt-admins'],
  bo: ['postvagt-borgerservice'],
  carl: ['kantine'],
};

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        post_logout_redirect_uris: [postLogoutRedirectUri],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    pkce: { required: () => true },
    scopes: ['openid', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'name'],
      groups: ['groups'],
    },
    // The requested claims go into the ID token itself, as Entra ID's and Keycloak's
    // group claims do (not only into the userinfo answer).
    conformIdTokenClaims: false,
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return { sub: id, preferred_username: id, name: id, groups: GROUPS[id] ?? [] };
        },
      };
    },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  });
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
