/*
 * The machine-dependent part of jni.h for cross builds (ci/cross-build.sh): the JDK on the build machine
 * ships only its own platform's jni_md.h. JNI fixes these types for every 64-bit platform Capwire builds for:
 * jint is 32 bits, jlong 64, jbyte signed 8; only the export and calling-convention markers differ.
 */
#ifndef CAPWIRE_CROSS_JNI_MD_H
#define CAPWIRE_CROSS_JNI_MD_H

#ifdef _WIN32
#define JNIEXPORT __declspec(dllexport)
#define JNIIMPORT __declspec(dllimport)
#define JNICALL __stdcall
#else
#define JNIEXPORT __attribute__((visibility("default")))
#define JNIIMPORT __attribute__((visibility("default")))
#define JNICALL
#endif

typedef int jint;
typedef long long jlong;
typedef signed char jbyte;

#endif
