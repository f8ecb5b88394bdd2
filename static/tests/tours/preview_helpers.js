/** @odoo-module **/
/** Steps and checks shared by this addon's tours (rule form + Preview dialog). */

/** The displayed text of a field of the open dialog (readonly char/text widgets render a span). */
export function dialogFieldText(name) {
    const widget = document.querySelector(`.modal .o_field_widget[name="${name}"]`);
    if (!widget) {
        throw new Error(`Preview dialog: field "${name}" is not displayed.`);
    }
    const input = widget.querySelector("input, textarea");
    return (input ? input.value : widget.textContent).trim();
}

/** Fill a many2one-like autocomplete and pick the suggestion whose text is exactly `label`. */
export function pickInAutocomplete(fieldSelector, search, label) {
    return [
        { content: `Search "${search}"`, trigger: `${fieldSelector} input`, run: `edit ${search}` },
        {
            content: `Pick "${label}"`,
            trigger: `.o-autocomplete--dropdown-menu li:not(.o_m2o_dropdown_option) a:contains(/^\\s*${label}\\s*$/)`,
            run: "click",
        },
        { content: `"${label}" is set`, trigger: `${fieldSelector} input:value(/^${label}$/)` },
    ];
}

/** Throw when a field of the preview differs from `expected` ({field: text}) or an error is shown;
 * `more` returns further error sentences. */
export function checkPreview(expected, more = () => []) {
    const errors = [];
    for (const [name, value] of Object.entries(expected)) {
        const actual = dialogFieldText(name);
        if (actual !== value) {
            errors.push(`${name}: expected "${value}", got "${actual}"`);
        }
    }
    errors.push(...more());
    const alert = document.querySelector(".modal .o_notify_preview_error");
    if (alert) {
        errors.push(`an error is shown: "${alert.textContent.trim()}"`);
    }
    if (errors.length) {
        throw new Error(`Preview is wrong: ${errors.join("; ")}`);
    }
}
