/** @odoo-module **/
/**
 * The login second factor by a code sent by WhatsApp, as a person goes through it: the password on /web/login,
 * the code page, the code (read from the provider simulator), the web client. And three wrong codes: locked.
 *
 * Driven by tests/test_otp_login.py (TestOtpLoginTour), which creates the user, the WAP simulator account and the
 * "At login" rule, and registers for the test only the route that runs the dispatcher and answers the code the
 * simulator received (CODE_HOOK; `wrong: true` answers a code certainly wrong).
 */
import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";

const LOGIN = "otp_tour_user";
const PASSWORD = "Otp-login-pass-42";
const CODE_HOOK = "/notify_rules_test/otp_code";

function passwordSteps() {
    return [
        { content: "Login", trigger: "input#login", run: `edit ${LOGIN}` },
        { content: "Password", trigger: "input#password", run: `edit ${PASSWORD}` },
        {
            content: "Log in with the password",
            trigger: 'button[type="submit"]:contains("Log in")',
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The code page says where the code went",
            trigger: '.o_notify_otp_login[data-state="code"] .o_notify_otp_sent_to:contains("WhatsApp"):contains("00 21")',
        },
    ];
}

function codeSteps({ wrong, expected }) {
    return [
        {
            content: wrong ? "Type a wrong code" : "Type the code the phone received",
            trigger: 'input[name="code"]',
            async run(helpers) {
                const code = await rpc(CODE_HOOK, { wrong });
                await helpers.edit(code);
            },
        },
        { content: "Send the code", trigger: "button.o_notify_otp_submit", run: "click", expectUnloadPage: true },
        { content: "What the page says now", trigger: expected },
    ];
}

registry.category("web_tour.tours").add("notify_otp_login_tour", {
    url: "/web/login",
    steps: () => [
        ...passwordSteps(),
        ...codeSteps({ wrong: false, expected: ".o_user_menu .dropdown-toggle" }),
    ],
});

registry.category("web_tour.tours").add("notify_otp_login_locked_tour", {
    url: "/web/login",
    steps: () => [
        ...passwordSteps(),
        ...codeSteps({ wrong: true, expected: '.o_notify_otp_error:contains("2 attempt(s) left")' }),
        ...codeSteps({ wrong: true, expected: '.o_notify_otp_error:contains("1 attempt(s) left")' }),
        ...codeSteps({
            wrong: true,
            expected: '.o_notify_otp_login[data-state="locked"] .o_notify_otp_locked:contains("Too many wrong codes")',
        }),
        {
            content: "No code field any more, only a new code",
            trigger: '.o_notify_otp_login:not(:has(input[name="code"])) button.o_notify_otp_resend',
        },
    ],
});
